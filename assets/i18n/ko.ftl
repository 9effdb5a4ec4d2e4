# 대기 페이지의 한국어 문구 (구조와 변수는 en.ftl 참고). 한국어의 복수형은 CLDR의 other 하나뿐.

title_default = 대기실
title_suffix = 대기실
place_heading = 대기열에서 내 위치
your_number = 내 번호
people_ahead = 내 앞의 인원
estimated_wait = 예상 대기 시간
progress_label = 맨 앞까지의 진행도
chance_label = 다음 추첨에서 뽑힐 확률
joining = 대기열에 들어가는 중…
hint = 이 페이지를 열어 두세요. 차례가 되면 자동으로 넘어갑니다. 페이지를 닫더라도 이 주소로 돌아오면 자리가 유지됩니다.
leave = 대기열 나가기
rejoin = 다시 줄 서기
closed = 이 대기실은 닫혔습니다. 새 방문자를 받지 않습니다.
unknown = 이 주소에는 대기실이 없습니다. 링크를 확인해 주세요.
busy = 지금 대기실이 매우 붐빕니다. 잠시 후 다시 시도해 주세요.
busy_retrying = 지금 대기실이 매우 붐빕니다. 이 페이지가 잠시 후 자동으로 다시 시도합니다. 페이지를 열어 두세요.
failed = 지금은 대기실에 들어갈 수 없습니다. 다시 시도해 주세요.
claim_passed = 자리를 비운 사이에 차례가 지나가 자리가 다음 분께 넘어갔습니다.
expired = 이 페이지를 너무 오래 떠나 있어 자리가 만료되었습니다.
paused_short = 일시 중지됨
not_known = 아직 알 수 없음
draw_at = { $day ->
        [today] { $time } 추첨
       *[other] { $day } { $time } 추첨
    }
basis_measured = 최근 입장 속도 기준: 1분에 약 { $rate }명.
basis_measured_hourly = 최근 입장 속도 기준: 1시간에 약 { $rate }명.
basis_schedule = 입장 일정 기준(1분에 { $rate }명): 아직 입장 횟수가 적어 속도를 잴 수 없습니다.
basis_schedule_hourly = 입장 일정 기준(1시간에 { $rate }명): 아직 입장 횟수가 적어 속도를 잴 수 없습니다.
paused_line = 대기열이 잠시 멈췄습니다. 자리는 유지됩니다.
paused_until = { $day ->
        [today] 대기열이 { $time }까지 잠시 멈췄습니다. 자리는 유지됩니다.
       *[other] 대기열이 { $day } { $time }까지 잠시 멈췄습니다. 자리는 유지됩니다.
    }
next = 다음 차례입니다. 곧 입장합니다.
ahead = 내 앞에 { $n }명이 있습니다.
estimated = 예상 대기 시간: { $wait }.
wait = { $unit ->
        [under_minute] 1분 미만
        [minutes] 약 { $minutes }분
        [hours] 약 { $hours }시간
        [hours_minutes] 약 { $hours }시간 { $minutes }분
       *[more_than] { $hours }시간 이상
    }
your_turn = 차례가 되었습니다! 지금 이동합니다…
left = 대기열에서 나왔습니다.
left_thanks = 대기열에서 나왔습니다. 다음 분께 자리를 양보해 주셔서 감사합니다.
confirm_leave = 대기열에서 나가시겠습니까? 자리를 잃게 됩니다.
nojs_reloads = 이 페이지는 { $s }초마다 자동으로 새로 고쳐지며 자리는 유지됩니다.
nojs_still = 이 페이지는 이제 자동으로 새로 고쳐지지 않습니다. ‘지금 확인’을 눌러 상황을 확인하세요.
nojs_stop_reloading = 자동 새로 고침 멈추기
nojs_start_reloading = 자동 새로 고침 다시 켜기
check_now = 지금 확인
continue = 계속
not_here_title = 여기에는 대기실이 없습니다
not_here_text = 이 주소에는 대기실이 없습니다. 링크를 확인하거나 이곳으로 보낸 사이트로 돌아가 주세요.
upcoming = { $day ->
        [today] 이 대기실은 { $time }에 열립니다.
       *[other] 이 대기실은 { $day } { $time }에 열립니다.
    } 이 페이지를 열어 두면 그때 자동으로 줄을 섭니다.
prequeue = 사전 대기열에 있습니다. { $day ->
        [today] { $time }에
       *[other] { $day } { $time }에
    } 이곳의 모든 사람이 무작위 순서로 자리를 받습니다. 일찍 와도 유리하지 않고 늦게 와도 불리하지 않습니다.
in_prequeue = 지금까지 사전 대기열 인원: { $n }명.
sold_out = 매진: 이 대기실은 새 방문자를 받지 않습니다.
known_only = 이 대기실은 사이트에 로그인한 방문자만 이용할 수 있습니다. 사이트에 로그인한 뒤 그곳의 링크로 들어오세요.
invite_only = 이 이벤트는 초대 전용입니다. 받은 코드를 입력하거나 초대장의 링크로 들어오세요.
code_invalid = 이 이벤트의 코드가 아니거나 이미 사용된 코드입니다.
code_label = 코드
code_submit = 이 코드로 참여
challenge_working = 봇을 막기 위해 브라우저가 몇 초 동안 작업하고 있습니다. 하실 일은 없습니다. 작업이 끝나면 자리가 정해집니다.
challenge_needs_script = 이 이벤트는 자리를 드리기 전에 각 브라우저에 몇 초의 작업을 요청하며, 여기에는 JavaScript가 필요합니다. JavaScript를 켜고 페이지를 새로 고치세요.
in_draw = 추첨에 참여 중입니다. 입장할 때마다 기다리는 사람 중 일부를 무작위로 뽑으므로 도착한 시각은 중요하지 않습니다. 대기 인원: { $n }명. 다음 추첨에서 뽑힐 확률: { $chance }%.
# Two sentences said one after the other.
sentences = { $first } { $second }
