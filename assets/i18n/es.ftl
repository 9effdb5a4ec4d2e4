# Las palabras de la página de espera en español (estructura y variables: en.ftl).

title_default = Sala de espera
title_suffix = sala de espera
place_heading = Tu lugar en la fila
your_number = Tu número
people_ahead = Personas delante de ti
estimated_wait = Espera estimada
progress_label = Avance hacia el frente
chance_label = Tu probabilidad en el próximo sorteo
joining = Entrando en la fila…
hint = Mantén esta página abierta: avanzará sola cuando sea tu turno. Si la cierras, vuelve a esta dirección y conservarás tu lugar.
leave = Salir de la fila
rejoin = Volver a la fila
closed = Esta sala de espera está cerrada: ya no admite a nadie.
unknown = No hay ninguna sala de espera en esta dirección. Revisa el enlace que seguiste.
busy = La sala de espera está muy concurrida. Inténtalo de nuevo en un momento.
busy_retrying = La sala de espera está muy concurrida en este momento. Esta página lo vuelve a intentar sola en un momento: mantenla abierta.
failed = La sala de espera no pudo recibirte ahora. Inténtalo de nuevo.
claim_passed = Tu turno llegó mientras no estabas, así que tu lugar pasó a la siguiente persona.
expired = Tu lugar caducó porque esta página estuvo cerrada demasiado tiempo.
paused_short = En pausa
not_known = Aún no se sabe
draw_at = { $day ->
        [today] Sorteo a las { $time }
       *[other] Sorteo el { $day } a las { $time }
    }
basis_measured = Según el ritmo de las últimas entradas: { $rate ->
        [one] { $rate } persona
        [many] unos { $rate } de personas
       *[other] unas { $rate } personas
    } por minuto.
basis_measured_hourly = Según el ritmo de las últimas entradas: { $rate ->
        [one] { $rate } persona
        [many] unos { $rate } de personas
       *[other] unas { $rate } personas
    } por hora.
basis_schedule = Según el calendario de entradas ({ $rate ->
        [one] { $rate } persona
        [many] { $rate } de personas
       *[other] { $rate } personas
    } por minuto): aún hay muy pocas entradas para medir el ritmo.
basis_schedule_hourly = Según el calendario de entradas ({ $rate ->
        [one] { $rate } persona
        [many] { $rate } de personas
       *[other] { $rate } personas
    } por hora): aún hay muy pocas entradas para medir el ritmo.
paused_line = La fila está en pausa. Conservas tu lugar.
paused_until = { $day ->
        [today] La fila está en pausa hasta las { $time }. Conservas tu lugar.
       *[other] La fila está en pausa hasta el { $day } a las { $time }. Conservas tu lugar.
    }
next = Eres el siguiente. Ya casi es tu turno.
ahead = { $n ->
        [one] { $n } persona delante de ti.
        [many] { $n } de personas delante de ti.
       *[other] { $n } personas delante de ti.
    }
estimated = Espera estimada: { $wait }.
wait = { $unit ->
        [under_minute] menos de un minuto
        [minutes] unos { $minutes } min
        [hours] unas { $hours } h
        [hours_minutes] unas { $hours } h { $minutes } min
       *[more_than] más de { $hours ->
            [one] { $hours } hora
            [many] { $hours } de horas
           *[other] { $hours } horas
        }
    }
your_turn = ¡Es tu turno! Te llevamos ahora…
left = Saliste de la fila.
left_thanks = Saliste de la fila. Gracias por dejar pasar a la siguiente persona.
confirm_leave = ¿Salir de la fila? Perderás tu lugar.
nojs_reloads = Esta página se recarga sola { $s ->
        [one] cada segundo
        [many] cada { $s } de segundos
       *[other] cada { $s } segundos
    } y conserva tu lugar.
nojs_still = Esta página ya no se recarga sola: pulsa «Comprobar ahora» para ver cómo vas.
nojs_stop_reloading = Dejar de recargar sola
nojs_start_reloading = Volver a recargar sola
check_now = Comprobar ahora
continue = Continuar
not_here_title = Aquí no hay sala de espera
not_here_text = No hay ninguna sala de espera en esta dirección. Revisa el enlace o vuelve al sitio que te envió aquí.
upcoming = { $day ->
        [today] Esta sala de espera abre a las { $time }.
       *[other] Esta sala de espera abre el { $day } a las { $time }.
    } Mantén esta página abierta: entrará en la fila sola.
prequeue = Estás en la prefila. { $day ->
        [today] A las { $time }
       *[other] El { $day } a las { $time }
    } cada persona en ella recibe un lugar en orden aleatorio: llegar antes no da ventaja y llegar después no es una desventaja.
in_prequeue = En la prefila por ahora: { $n }.
sold_out = Agotado: esta sala de espera no admite nuevos visitantes.
known_only = Esta sala de espera es solo para quienes iniciaron sesión en el sitio: inicia sesión allí y sigue su enlace hasta aquí.
invite_only = Este evento es solo con invitación: escribe el código que recibiste o sigue el enlace de tu invitación.
code_invalid = Ese código no es de este evento o ya se usó.
code_label = Tu código
code_submit = Entrar con este código
challenge_working = Tu navegador está haciendo unos segundos de trabajo que mantiene fuera a los bots: no tienes que hacer nada. Tu lugar se toma cuando termine.
challenge_needs_script = Este evento pide a cada navegador unos segundos de trabajo antes de dar un lugar, y eso necesita JavaScript: actívalo y vuelve a cargar la página.
in_draw = Estás en el sorteo: cada entrada deja pasar a algunas de las personas en espera, elegidas al azar, así que no importa cuándo llegaste. En espera: { $n }. Tu probabilidad en el próximo sorteo: { $chance } %.
# Two sentences said one after the other.
sentences = { $first } { $second }
