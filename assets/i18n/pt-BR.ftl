# As palavras da página de espera em português do Brasil (estrutura e variáveis: en.ftl).

title_default = Sala de espera
title_suffix = sala de espera
place_heading = Seu lugar na fila
your_number = Seu número
people_ahead = Pessoas à sua frente
estimated_wait = Espera estimada
progress_label = Progresso até a frente
chance_label = Sua chance no próximo sorteio
joining = Entrando na fila…
hint = Mantenha esta página aberta: ela avança sozinha quando chegar a sua vez. Se você fechá-la, volte a este endereço e seu lugar continua guardado.
leave = Sair da fila
rejoin = Entrar na fila de novo
closed = Esta sala de espera está fechada: não recebe novos visitantes.
unknown = Não há sala de espera neste endereço. Confira o link que você seguiu.
busy = A sala de espera está muito cheia agora. Tente de novo em instantes.
busy_retrying = A sala de espera está muito cheia agora. Esta página tenta de novo sozinha em instantes: mantenha-a aberta.
failed = A sala de espera não conseguiu receber você agora. Tente de novo.
claim_passed = Sua vez chegou e passou enquanto você estava fora, então sua vaga foi para a próxima pessoa.
expired = Seu lugar expirou porque esta página ficou fechada por muito tempo.
paused_short = Pausada
not_known = Ainda não se sabe
draw_at = { $day ->
        [today] Sorteio às { $time }
       *[other] Sorteio em { $day } às { $time }
    }
basis_measured = Pelo ritmo das últimas liberações: cerca de { $rate ->
        [one] { $rate } pessoa
        [many] { $rate } de pessoas
       *[other] { $rate } pessoas
    } por minuto.
basis_measured_hourly = Pelo ritmo das últimas liberações: cerca de { $rate ->
        [one] { $rate } pessoa
        [many] { $rate } de pessoas
       *[other] { $rate } pessoas
    } por hora.
basis_schedule = Pela programação de liberações ({ $rate ->
        [one] { $rate } pessoa
        [many] { $rate } de pessoas
       *[other] { $rate } pessoas
    } por minuto): ainda há poucas liberações para medir o ritmo.
basis_schedule_hourly = Pela programação de liberações ({ $rate ->
        [one] { $rate } pessoa
        [many] { $rate } de pessoas
       *[other] { $rate } pessoas
    } por hora): ainda há poucas liberações para medir o ritmo.
paused_line = A fila está pausada por enquanto. Seu lugar continua guardado.
paused_until = { $day ->
        [today] A fila está pausada até às { $time }. Seu lugar continua guardado.
       *[other] A fila está pausada até { $day } às { $time }. Seu lugar continua guardado.
    }
next = Você é o próximo. Está quase na sua vez.
ahead = { $n ->
        [one] { $n } pessoa à sua frente.
        [many] { $n } de pessoas à sua frente.
       *[other] { $n } pessoas à sua frente.
    }
estimated = Espera estimada: { $wait }.
wait = { $unit ->
        [under_minute] menos de um minuto
        [minutes] cerca de { $minutes } min
        [hours] cerca de { $hours } h
        [hours_minutes] cerca de { $hours } h { $minutes } min
       *[more_than] mais de { $hours ->
            [one] { $hours } hora
            [many] { $hours } de horas
           *[other] { $hours } horas
        }
    }
your_turn = É a sua vez! Levando você agora…
left = Você saiu da fila.
left_thanks = Você saiu da fila. Obrigado por deixar a próxima pessoa entrar.
confirm_leave = Sair da fila? Você vai perder seu lugar.
nojs_reloads = Esta página se recarrega sozinha { $s ->
        [one] a cada segundo
        [many] a cada { $s } de segundos
       *[other] a cada { $s } segundos
    } e mantém seu lugar.
nojs_still = Esta página não se recarrega mais sozinha: toque em “Verificar agora” para ver sua situação.
nojs_stop_reloading = Parar de recarregar sozinha
nojs_start_reloading = Voltar a recarregar sozinha
check_now = Verificar agora
continue = Continuar
not_here_title = Nenhuma sala de espera aqui
not_here_text = Não há sala de espera neste endereço. Confira o link que você seguiu ou volte ao site que enviou você para cá.
upcoming = { $day ->
        [today] Esta sala de espera abre às { $time }.
       *[other] Esta sala de espera abre em { $day } às { $time }.
    } Mantenha esta página aberta: ela entra na fila sozinha nessa hora.
prequeue = Você está na pré-fila. { $day ->
        [today] Às { $time }
       *[other] Em { $day } às { $time }
    }, cada pessoa nela recebe um lugar em ordem aleatória: chegar cedo não é vantagem e chegar mais tarde não é desvantagem.
in_prequeue = Pessoas na pré-fila até agora: { $n }.
sold_out = Esgotado: esta sala de espera não recebe novos visitantes.
known_only = Esta sala de espera é só para quem entrou na conta do site: entre no site e siga o link dele até aqui.
invite_only = Este evento é só para convidados: digite o código que você recebeu ou siga o link do seu convite.
code_invalid = Esse código não é deste evento ou já foi usado.
code_label = Seu código
code_submit = Entrar com este código
challenge_working = Seu navegador está fazendo alguns segundos de trabalho que mantém os robôs de fora: você não precisa fazer nada. Seu lugar é reservado quando terminar.
challenge_needs_script = Este evento pede a cada navegador alguns segundos de trabalho antes de dar um lugar, e isso precisa de JavaScript: ative-o e recarregue a página.
in_draw = Você está no sorteio: cada liberação deixa passar algumas das pessoas que esperam, sorteadas, então a hora em que você chegou não importa. Esperando: { $n }. Sua chance no próximo sorteio: { $chance } %.
# Two sentences said one after the other.
sentences = { $first } { $second }
