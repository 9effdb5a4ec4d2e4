# 待合室ページの日本語の文言（構成と変数は en.ftl を参照）。日本語の複数形は CLDR の other のみ。

title_default = 待合室
title_suffix = 待合室
place_heading = 列でのあなたの位置
your_number = あなたの番号
people_ahead = あなたの前の人数
estimated_wait = 予想待ち時間
progress_label = 先頭までの進み具合
chance_label = 次の抽選で選ばれる確率
joining = 列に並んでいます…
hint = このページを開いたままにしてください。順番が来ると自動で進みます。閉じても、このアドレスに戻れば順番はそのままです。
leave = 列を離れる
rejoin = もう一度並ぶ
closed = この待合室は終了しました。新しい方は受け付けていません。
unknown = このアドレスに待合室はありません。リンクをご確認ください。
busy = ただいま大変混み合っています。少し待ってからもう一度お試しください。
busy_retrying = 現在、待合室が大変混み合っています。このページはまもなく自動的に再試行します。このページを開いたままにしてください。
failed = ただいま待合室に入れませんでした。もう一度お試しください。
claim_passed = 不在の間に順番が過ぎたため、枠は次の方に移りました。
expired = このページが長く閉じられていたため、順番の有効期限が切れました。
paused_short = 一時停止中
not_known = まだ分かりません
draw_at = { $day ->
        [today] 抽選 { $time }
       *[other] 抽選 { $day } { $time }
    }
basis_measured = 最近の入場ペースに基づく：1分あたり約{ $rate }人。
basis_measured_hourly = 最近の入場ペースに基づく：1時間あたり約{ $rate }人。
basis_schedule = 入場予定に基づく（1分あたり{ $rate }人）。ペースを測るにはまだ入場の回数が足りません。
basis_schedule_hourly = 入場予定に基づく（1時間あたり{ $rate }人）。ペースを測るにはまだ入場の回数が足りません。
paused_line = 列は一時停止中です。順番はそのままです。
paused_until = { $day ->
        [today] 列は { $time } まで一時停止中です。順番はそのままです。
       *[other] 列は { $day } { $time } まで一時停止中です。順番はそのままです。
    }
next = 次はあなたの番です。もうすぐです。
ahead = あなたの前に{ $n }人。
estimated = 予想待ち時間：{ $wait }。
wait = { $unit ->
        [under_minute] 1分未満
        [minutes] 約{ $minutes }分
        [hours] 約{ $hours }時間
        [hours_minutes] 約{ $hours }時間{ $minutes }分
       *[more_than] { $hours }時間以上
    }
your_turn = あなたの番です！ご案内します…
left = 列を離れました。
left_thanks = 列を離れました。次の方に譲っていただきありがとうございます。
confirm_leave = 列を離れますか？順番は失われます。
nojs_reloads = このページは{ $s }秒ごとに自動で更新され、順番はそのままです。
nojs_still = このページは今は自動で更新されません。「今すぐ確認」を押すと状況が分かります。
nojs_stop_reloading = 自動更新を止める
nojs_start_reloading = 自動更新を再開する
check_now = 今すぐ確認
continue = 続ける
not_here_title = ここに待合室はありません
not_here_text = このアドレスに待合室はありません。リンクをご確認いただくか、元のサイトにお戻りください。
upcoming = { $day ->
        [today] この待合室は{ $time }に開きます。
       *[other] この待合室は{ $day } { $time }に開きます。
    }このページを開いたままにしてください。時間になると自動で列に並びます。
prequeue = 事前待機列に入っています。{ $day ->
        [today] { $time }に
       *[other] { $day } { $time }に
    }全員の順番がランダムに決まります。早く来ても有利にはならず、遅く来ても不利にはなりません。
in_prequeue = 現在の事前待機列の人数：{ $n }人。
sold_out = 完売しました。この待合室は新しい来場者を受け付けていません。
known_only = この待合室はサイトにログインした方専用です。サイトでログインし、そこからのリンクでお越しください。
invite_only = このイベントは招待制です。受け取ったコードを入力するか、招待状のリンクからお越しください。
code_invalid = このコードはこのイベントのものではないか、すでに使われています。
code_label = コード
code_submit = このコードで参加
challenge_working = ボット対策のため、ブラウザが数秒間の処理を行っています。操作は不要です。処理が終わると順番が確定します。
challenge_needs_script = このイベントでは順番を取る前に各ブラウザで数秒間の処理が必要で、JavaScript が必要です。JavaScript を有効にしてページを再読み込みしてください。
in_draw = 抽選に参加しています。毎回の入場で、待っている人の中から無作為に選ばれた人が入場できるため、到着した時刻は関係ありません。待機中：{ $n }人。次の抽選で選ばれる確率：{ $chance }%。
# 二つの文を続けて言う（間に空白を入れない）。
sentences = { $first }{ $second }
