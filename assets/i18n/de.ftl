# Die Wörter der Warteseite auf Deutsch (Aufbau und Variablen: en.ftl).

title_default = Warteraum
title_suffix = Warteraum
place_heading = Ihr Platz in der Schlange
your_number = Ihre Nummer
people_ahead = Personen vor Ihnen
estimated_wait = Geschätzte Wartezeit
progress_label = Fortschritt bis nach vorn
chance_label = Ihre Chance bei der nächsten Ziehung
joining = Sie werden eingereiht…
hint = Lassen Sie diese Seite offen: Sie geht von selbst weiter, wenn Sie an der Reihe sind. Wenn Sie sie schließen, kommen Sie unter dieser Adresse zurück und behalten Ihren Platz.
leave = Schlange verlassen
rejoin = Wieder anstellen
closed = Dieser Warteraum ist geschlossen und nimmt niemanden mehr auf.
unknown = Unter dieser Adresse gibt es keinen Warteraum. Bitte prüfen Sie den Link.
busy = Der Warteraum ist gerade sehr gefragt. Bitte versuchen Sie es gleich noch einmal.
busy_retrying = Der Warteraum ist gerade sehr ausgelastet. Diese Seite versucht es gleich von selbst noch einmal: Lassen Sie sie geöffnet.
failed = Der Warteraum konnte Sie gerade nicht aufnehmen. Bitte versuchen Sie es noch einmal.
claim_passed = Sie waren an der Reihe, während Sie weg waren; Ihr Platz ging an die nächste Person.
expired = Ihr Platz ist verfallen, weil diese Seite zu lange nicht offen war.
paused_short = Angehalten
not_known = Noch nicht bekannt
draw_at = { $day ->
        [today] Ziehung um { $time }
       *[other] Ziehung am { $day } um { $time }
    }
basis_measured = Nach dem Tempo der letzten Freigaben: etwa { $rate ->
        [one] { $rate } Person
       *[other] { $rate } Personen
    } pro Minute.
basis_measured_hourly = Nach dem Tempo der letzten Freigaben: etwa { $rate ->
        [one] { $rate } Person
       *[other] { $rate } Personen
    } pro Stunde.
basis_schedule = Nach dem Freigabeplan ({ $rate ->
        [one] { $rate } Person
       *[other] { $rate } Personen
    } pro Minute): noch zu wenige Freigaben, um das Tempo zu messen.
basis_schedule_hourly = Nach dem Freigabeplan ({ $rate ->
        [one] { $rate } Person
       *[other] { $rate } Personen
    } pro Stunde): noch zu wenige Freigaben, um das Tempo zu messen.
paused_line = Die Schlange ist gerade angehalten. Sie behalten Ihren Platz.
paused_until = { $day ->
        [today] Die Schlange ist bis { $time } angehalten. Sie behalten Ihren Platz.
       *[other] Die Schlange ist bis { $day } um { $time } angehalten. Sie behalten Ihren Platz.
    }
next = Sie sind als Nächstes dran.
ahead = { $n ->
        [one] { $n } Person vor Ihnen.
       *[other] { $n } Personen vor Ihnen.
    }
estimated = Geschätzte Wartezeit: { $wait }.
wait = { $unit ->
        [under_minute] weniger als eine Minute
        [minutes] etwa { $minutes } Min.
        [hours] etwa { $hours } Std.
        [hours_minutes] etwa { $hours } Std. { $minutes } Min.
       *[more_than] mehr als { $hours ->
            [one] { $hours } Stunde
           *[other] { $hours } Stunden
        }
    }
your_turn = Sie sind an der Reihe! Sie werden weitergeleitet…
left = Sie haben die Schlange verlassen.
left_thanks = Sie haben die Schlange verlassen. Danke, dass Sie die nächste Person vorlassen.
confirm_leave = Die Schlange verlassen? Sie verlieren Ihren Platz.
nojs_reloads = Diese Seite lädt sich { $s ->
        [one] jede Sekunde
       *[other] alle { $s } Sekunden
    } selbst neu und behält Ihren Platz.
nojs_still = Diese Seite lädt sich jetzt nicht mehr selbst neu: Drücken Sie „Jetzt prüfen“, um Ihren Stand zu sehen.
nojs_stop_reloading = Nicht mehr selbst neu laden
nojs_start_reloading = Wieder selbst neu laden
check_now = Jetzt prüfen
continue = Weiter
not_here_title = Hier ist kein Warteraum
not_here_text = Unter dieser Adresse gibt es keinen Warteraum. Bitte prüfen Sie den Link oder kehren Sie zur Seite zurück, die Sie hierher geschickt hat.
upcoming = { $day ->
        [today] Dieser Warteraum öffnet um { $time }.
       *[other] Dieser Warteraum öffnet am { $day } um { $time }.
    } Lassen Sie diese Seite offen: Sie reiht sich dann von selbst ein.
prequeue = Sie sind in der Vorwarteschlange. { $day ->
        [today] Um { $time }
       *[other] Am { $day } um { $time }
    } erhalten alle darin einen Platz in zufälliger Reihenfolge: Früher zu kommen bringt keinen Vorteil, später zu kommen keinen Nachteil.
in_prequeue = Bisher in der Vorwarteschlange: { $n }.
sold_out = Ausverkauft: Dieser Warteraum nimmt keine neuen Besucher mehr auf.
known_only = Dieser Warteraum ist nur für angemeldete Besucher der Website: Melden Sie sich dort an und folgen Sie dem Link hierher.
invite_only = Diese Veranstaltung ist nur mit Einladung: Geben Sie den Code ein, den Sie erhalten haben, oder folgen Sie dem Link in Ihrer Einladung.
code_invalid = Dieser Code gehört nicht zu dieser Veranstaltung oder wurde schon verwendet.
code_label = Ihr Code
code_submit = Mit diesem Code beitreten
challenge_working = Ihr Browser erledigt ein paar Sekunden Arbeit, die Bots fernhält: Sie müssen nichts tun. Ihr Platz wird vergeben, sobald sie erledigt ist.
challenge_needs_script = Diese Veranstaltung verlangt von jedem Browser vor der Platzvergabe ein paar Sekunden Arbeit, die JavaScript braucht: Schalten Sie es ein und laden Sie die Seite neu.
in_draw = Sie sind in der Verlosung: Jede Freigabe lässt einige der Wartenden durch, zufällig gezogen, daher spielt es keine Rolle, wann Sie gekommen sind. Wartende: { $n }. Ihre Chance bei der nächsten Ziehung: { $chance } %.
# Two sentences said one after the other.
sentences = { $first } { $second }
