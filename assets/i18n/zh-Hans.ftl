# 等候页面的简体中文文案（结构与变量见 en.ftl）。中文的复数只有 CLDR 的 other。

title_default = 等候室
title_suffix = 等候室
place_heading = 您在队列中的位置
your_number = 您的号码
people_ahead = 您前面的人数
estimated_wait = 预计等候时间
progress_label = 距离队首的进度
chance_label = 您在下一次抽签中的机会
joining = 正在加入队列…
hint = 请保持此页面打开：轮到您时它会自动继续。如果关闭了页面，请回到此地址，您的位置仍会保留。
leave = 离开队列
rejoin = 重新排队
closed = 此等候室已关闭，不再接待新访客。
unknown = 此地址没有等候室。请检查您打开的链接。
busy = 等候室现在非常繁忙。请稍后再试。
busy_retrying = 等候室现在非常繁忙。此页面稍后会自动重试：请保持页面打开。
failed = 等候室暂时无法接待您。请再试一次。
claim_passed = 您离开期间已轮到您，名额已转给下一位。
expired = 此页面离开太久，您的位置已失效。
paused_short = 已暂停
not_known = 暂不知道
draw_at = { $day ->
        [today] { $time } 抽签
       *[other] { $day } { $time } 抽签
    }
basis_measured = 根据最近几次放行的速度：每分钟约 { $rate } 人。
basis_measured_hourly = 根据最近几次放行的速度：每小时约 { $rate } 人。
basis_schedule = 根据放行计划（每分钟 { $rate } 人）：放行次数还太少，无法测量速度。
basis_schedule_hourly = 根据放行计划（每小时 { $rate } 人）：放行次数还太少，无法测量速度。
paused_line = 队列暂时暂停。您的位置会保留。
paused_until = { $day ->
        [today] 队列暂停至 { $time }。您的位置会保留。
       *[other] 队列暂停至 { $day } { $time }。您的位置会保留。
    }
next = 下一位就是您，马上就轮到您了。
ahead = 您前面还有 { $n } 人。
estimated = 预计等候：{ $wait }。
wait = { $unit ->
        [under_minute] 不到 1 分钟
        [minutes] 约 { $minutes } 分钟
        [hours] 约 { $hours } 小时
        [hours_minutes] 约 { $hours } 小时 { $minutes } 分钟
       *[more_than] 超过 { $hours } 小时
    }
your_turn = 轮到您了！正在为您跳转…
left = 您已离开队列。
left_thanks = 您已离开队列。感谢您把机会让给下一位。
confirm_leave = 确定离开队列吗？您将失去您的位置。
nojs_reloads = 此页面每 { $s } 秒自动刷新一次，您的位置会保留。
nojs_still = 此页面现在不会自动刷新：请点击“立即查看”了解您的情况。
nojs_stop_reloading = 停止自动刷新
nojs_start_reloading = 恢复自动刷新
check_now = 立即查看
continue = 继续
not_here_title = 这里没有等候室
not_here_text = 此地址没有等候室。请检查您打开的链接，或返回把您带到这里的网站。
upcoming = { $day ->
        [today] 此等候室将于 { $time } 开放。
       *[other] 此等候室将于 { $day } { $time } 开放。
    }请保持此页面打开：届时它会自动为您排队。
prequeue = 您在预排队中。{ $day ->
        [today] { $time }
       *[other] { $day } { $time }
    }，其中每个人都会按随机顺序获得位置：早到没有优势，晚到也没有劣势。
in_prequeue = 目前预排队人数：{ $n }。
sold_out = 已售罄：此等候室不再接待新访客。
known_only = 此等候室仅供已登录网站的访客使用：请先在网站登录，再通过网站的链接来到这里。
invite_only = 此活动仅限受邀者参加：请输入您收到的代码，或通过邀请中的链接进入。
code_invalid = 此代码不属于本活动，或已被使用。
code_label = 您的代码
code_submit = 使用此代码加入
challenge_working = 您的浏览器正在进行几秒钟的运算，以挡住机器人：您无需做任何事。完成后即为您排上位置。
challenge_needs_script = 此活动在分配位置前需要每个浏览器进行几秒钟的运算，这需要 JavaScript：请开启后重新加载页面。
in_draw = 您正在参与抽签：每次放行都会从等候的人中随机选出一部分，因此到达时间并不重要。等候人数：{ $n }。您在下一次抽签中的机会：{ $chance }%。
# 两句话接着说（中间不加空格）。
sentences = { $first }{ $second }
