# Les mots de la page d’attente en français (structure et variables : en.ftl).

title_default = Salle d’attente
title_suffix = salle d’attente
place_heading = Votre place dans la file
your_number = Votre numéro
people_ahead = Personnes devant vous
estimated_wait = Attente estimée
progress_label = Progression vers l’avant
chance_label = Votre chance au prochain tirage
joining = Entrée dans la file…
hint = Gardez cette page ouverte : elle avance toute seule quand c’est votre tour. Si vous la fermez, revenez à cette adresse et vous gardez votre place.
leave = Quitter la file
rejoin = Revenir dans la file
closed = Cette salle d’attente est fermée : elle n’accueille plus personne.
unknown = Il n’y a pas de salle d’attente à cette adresse. Vérifiez le lien suivi.
busy = La salle d’attente est très sollicitée. Réessayez dans un instant.
busy_retrying = La salle d’attente est très sollicitée en ce moment. Cette page réessaie d’elle-même dans un instant : gardez-la ouverte.
failed = La salle d’attente n’a pas pu vous accueillir. Veuillez réessayer.
claim_passed = Votre tour est passé pendant votre absence : votre place est allée à la personne suivante.
expired = Votre place a expiré car cette page est restée fermée trop longtemps.
paused_short = En pause
not_known = Pas encore connue
draw_at = { $day ->
        [today] Tirage à { $time }
       *[other] Tirage le { $day } à { $time }
    }
basis_measured = D’après le rythme des dernières ouvertures : environ { $rate ->
        [one] { $rate } personne
        [many] { $rate } de personnes
       *[other] { $rate } personnes
    } par minute.
basis_measured_hourly = D’après le rythme des dernières ouvertures : environ { $rate ->
        [one] { $rate } personne
        [many] { $rate } de personnes
       *[other] { $rate } personnes
    } par heure.
basis_schedule = D’après le calendrier d’ouverture ({ $rate ->
        [one] { $rate } personne
        [many] { $rate } de personnes
       *[other] { $rate } personnes
    } par minute) : trop peu d’ouvertures encore pour mesurer le rythme.
basis_schedule_hourly = D’après le calendrier d’ouverture ({ $rate ->
        [one] { $rate } personne
        [many] { $rate } de personnes
       *[other] { $rate } personnes
    } par heure) : trop peu d’ouvertures encore pour mesurer le rythme.
paused_line = La file est en pause. Vous gardez votre place.
paused_until = { $day ->
        [today] La file est en pause jusqu’à { $time }. Vous gardez votre place.
       *[other] La file est en pause jusqu’au { $day } à { $time }. Vous gardez votre place.
    }
next = Vous êtes le prochain. C’est presque votre tour.
ahead = { $n ->
        [one] { $n } personne devant vous.
        [many] { $n } de personnes devant vous.
       *[other] { $n } personnes devant vous.
    }
estimated = Attente estimée : { $wait }.
wait = { $unit ->
        [under_minute] moins d’une minute
        [minutes] environ { $minutes } min
        [hours] environ { $hours } h
        [hours_minutes] environ { $hours } h { $minutes } min
       *[more_than] plus de { $hours ->
            [one] { $hours } heure
            [many] { $hours } d’heures
           *[other] { $hours } heures
        }
    }
your_turn = C’est votre tour ! Redirection en cours…
left = Vous avez quitté la file.
left_thanks = Vous avez quitté la file. Merci de laisser passer la personne suivante.
confirm_leave = Quitter la file ? Vous perdrez votre place.
nojs_reloads = Cette page se recharge toute seule { $s ->
        [one] chaque seconde
        [many] toutes les { $s } de secondes
       *[other] toutes les { $s } secondes
    } et garde votre place.
nojs_still = Cette page ne se recharge plus toute seule : appuyez sur « Vérifier maintenant » pour voir où vous en êtes.
nojs_stop_reloading = Ne plus recharger toute seule
nojs_start_reloading = Recharger de nouveau toute seule
check_now = Vérifier maintenant
continue = Continuer
not_here_title = Pas de salle d’attente ici
not_here_text = Il n’y a pas de salle d’attente à cette adresse. Vérifiez le lien suivi ou revenez au site qui vous a envoyé ici.
upcoming = { $day ->
        [today] Cette salle d’attente ouvre à { $time }.
       *[other] Cette salle d’attente ouvre le { $day } à { $time }.
    } Gardez cette page ouverte : elle vous inscrira d’elle-même.
prequeue = Vous êtes dans la pré-file. { $day ->
        [today] À { $time }
       *[other] Le { $day } à { $time }
    }, chacun y reçoit une place dans un ordre tiré au sort : arriver tôt n’est pas un avantage, arriver plus tard n’est pas un désavantage.
in_prequeue = Dans la pré-file pour l’instant : { $n }.
sold_out = Complet : cette salle d’attente n’accepte plus de nouveaux visiteurs.
known_only = Cette salle d’attente est réservée aux visiteurs connectés du site : connectez-vous sur le site et suivez son lien jusqu’ici.
invite_only = Cet événement est sur invitation : saisissez le code que vous avez reçu ou suivez le lien de votre invitation.
code_invalid = Ce code n’est pas valable pour cet événement, ou il a déjà été utilisé.
code_label = Votre code
code_submit = Rejoindre avec ce code
challenge_working = Votre navigateur fait quelques secondes de travail qui écarte les robots : vous n’avez rien à faire. Votre place est prise quand il a fini.
challenge_needs_script = Cet événement demande à chaque navigateur quelques secondes de travail avant une place, ce qui nécessite JavaScript : activez-le et rechargez la page.
in_draw = Vous êtes dans le tirage : chaque ouverture laisse passer une partie des personnes en attente, tirées au sort, l’heure d’arrivée ne compte donc pas. En attente : { $n }. Votre chance au prochain tirage : { $chance } %.
# Two sentences said one after the other.
sentences = { $first } { $second }
