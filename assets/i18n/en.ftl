# The waiting page's words in English, the fallback of every other language.
#
# Project Fluent syntax (https://projectfluent.org): the server renders these with `fluent-bundle`
# (the page without script, the JSON estimate's `text`), the page's script with `@fluent/bundle`;
# plural variants are CLDR's categories (zero, one, two, few, many, other), chosen by each side's
# CLDR rules. Every language has every message with the same variables (a unit test checks it).
# Variables: $n people, $rate people a minute, $s seconds, $day "today" or the date, $time a clock
# time, $chance a percentage, $unit/$minutes/$hours a wait rounded by the server
# (`estimate::Rounded`), $wait that wait in words.

title_default = Waiting room
title_suffix = waiting room
place_heading = Your place in line
your_number = Your number
people_ahead = People ahead of you
estimated_wait = Estimated wait
progress_label = Progress to the front
chance_label = Your chance at the next draw
joining = Joining the line…
hint = Keep this page open: it moves on by itself when it is your turn. If you close it, come back to this address and you keep your place.
leave = Leave the line
rejoin = Join the line again
closed = This waiting room is closed: it takes no new visitors.
unknown = There is no waiting room at this address. Please check the link you followed.
busy = The waiting room is very busy right now. Please try again in a moment.
busy_retrying = The waiting room is very busy right now. This page tries again by itself in a moment: keep it open.
failed = The waiting room could not take you in right now. Please try again.
claim_passed = Your turn came and went while you were away, so your slot went to the next person.
expired = Your place expired because this page was away too long.
paused_short = Paused
not_known = Not known yet
draw_at = { $day ->
        [today] Draw at { $time }
       *[other] Draw on { $day } at { $time }
    }
basis_measured = Based on the pace of the last releases: about { $rate ->
        [one] { $rate } person
       *[other] { $rate } people
    } a minute.
# The same for a line slower than a person a minute.
basis_measured_hourly = Based on the pace of the last releases: about { $rate ->
        [one] { $rate } person
       *[other] { $rate } people
    } an hour.
basis_schedule = Based on the release schedule ({ $rate ->
        [one] { $rate } person
       *[other] { $rate } people
    } a minute): too few releases yet to measure the pace.
basis_schedule_hourly = Based on the release schedule ({ $rate ->
        [one] { $rate } person
       *[other] { $rate } people
    } an hour): too few releases yet to measure the pace.
paused_line = The line is paused for now. You keep your place.
# The same with the announced end of the pause.
paused_until = { $day ->
        [today] The line is paused until { $time }. You keep your place.
       *[other] The line is paused until { $day } at { $time }. You keep your place.
    }
next = You are next. It is almost your turn.
ahead = { $n ->
        [one] { $n } person ahead of you.
       *[other] { $n } people ahead of you.
    }
estimated = Estimated wait: { $wait }.
wait = { $unit ->
        [under_minute] less than a minute
        [minutes] about { $minutes } min
        [hours] about { $hours } h
        [hours_minutes] about { $hours } h { $minutes } min
       *[more_than] more than { $hours ->
            [one] { $hours } hour
           *[other] { $hours } hours
        }
    }
your_turn = It is your turn! Taking you there now…
left = You left the line.
left_thanks = You left the line. Thank you for letting the next person in.
confirm_leave = Leave the line? You will lose your place.
nojs_reloads = This page reloads by itself every { $s ->
        [one] second
       *[other] { $s } seconds
    } and keeps your place.
nojs_still = This page does not reload by itself now: press “Check now” to see where you stand.
nojs_stop_reloading = Stop reloading by itself
nojs_start_reloading = Reload by itself again
check_now = Check now
continue = Continue
not_here_title = No waiting room here
not_here_text = There is no waiting room at this address. Please check the link you followed, or go back to the site that sent you here.
upcoming = { $day ->
        [today] This waiting room opens at { $time }.
       *[other] This waiting room opens on { $day } at { $time }.
    } Keep this page open: it joins by itself then.
prequeue = You are in the pre-queue. { $day ->
        [today] At { $time }
       *[other] On { $day } at { $time }
    } everyone in it gets a place in a random order, so arriving early is no advantage and arriving later is no disadvantage.
in_prequeue = People in the pre-queue so far: { $n }.
sold_out = Sold out: this waiting room takes no new visitors.
known_only = This waiting room is for the site’s signed-in visitors only: sign in on the site and follow its link here.
# An invite-only event: the join needs an enqueue code (or the booking site's invitation link).
invite_only = This event is by invitation: enter the code you were sent, or follow the link in your invitation.
code_invalid = That code is not one of this event’s, or it was used already.
code_label = Your code
code_submit = Join with this code
# An event that asks for proof of work before a place (its challenge).
challenge_working = Your browser is doing a few seconds of work that keeps bots out: nothing for you to do. Your place is taken when it is done.
challenge_needs_script = This event asks each browser for a few seconds of work before a place, which needs JavaScript: turn it on and reload the page.
in_draw = You are in the draw: each release lets some of those waiting through, picked at random, so when you arrived does not matter. Waiting: { $n }. Your chance at the next draw: { $chance } %.
# Two sentences said one after the other.
sentences = { $first } { $second }
