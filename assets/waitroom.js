// The waiting page: joins (or keeps) a place, follows it live over Server-Sent Events (falling back to
// polling), and moves on to the event's site with the admission pass when it is this visitor's turn.
(() => {
  "use strict";
  const root = document.getElementById("waitroom");
  const event = root.dataset.event;
  const api = `/v1/events/${encodeURIComponent(event)}`;
  const storageKey = `waitroom:${event}`;
  // An element a page of its own leaves out is written to a detached stand-in: nothing breaks.
  const $ = (id) => document.getElementById(id) || document.createElement("div");
  // The page's words: the Fluent messages of its language (the server chose it) and the event's
  // own texts over them, formatted by @fluent/bundle with the browser's CLDR plural rules and
  // number formats, as the server formats the same files.
  const words = JSON.parse($("messages").textContent || "{}");
  const lang = words.lang || document.documentElement.lang || "en";
  const { FluentBundle, FluentResource } = window.FluentBundle;
  const bundle = new FluentBundle(lang, { useIsolating: false });
  bundle.addResource(new FluentResource(words.messages || ""));
  if (words.own) bundle.addResource(new FluentResource(words.own), { allowOverrides: true });
  // Message `key` with its variables (numbers as numbers: they choose the plural form).
  function t(key, vars = {}) {
    const message = bundle.getMessage(key);
    return message && message.value ? bundle.formatPattern(message.value, vars) : key;
  }
  const number = (n) => Number(n).toLocaleString(lang);
  // The wait the server rounded (`estimate.rounded`: one rule for the API, this page and the page
  // without script), in this language's words.
  const waitText = (estimate) => t("wait", estimate.rounded);

  // A booking site that joined its signed-in user hands the token over in the address's fragment
  // (`/e/<event>#token=…`), which browsers never send to a server: kept here, then taken out of
  // the address.
  const handed = new URLSearchParams(window.location.hash.slice(1)).get("token");
  if (handed) {
    localStorage.setItem(storageKey, handed);
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  // An invite-only event's code (or the booking site's signed invitation) from the invitation's
  // link (`/e/<event>?code=…`, or `#code=…`, which no server or proxy log sees): sent with the
  // join, and taken out of the address.
  const query = new URLSearchParams(window.location.search);
  let code = new URLSearchParams(window.location.hash.slice(1)).get("code") || query.get("code");
  if (code) {
    query.delete("code");
    const rest = query.toString();
    history.replaceState(null, "", window.location.pathname + (rest ? `?${rest}` : ""));
  }
  // The solution of the event's challenge, once the page's worker found it (see `solve`).
  let solution = null;
  let token = localStorage.getItem(storageKey);
  // When the token runs out, and the timer that renews it before then.
  let expiresAt = null;
  let renewTimer = null;
  let source = null;
  let pollTimer = null;
  let streamFailures = 0;
  // The longest line seen, kept across reloads so the progress bar does not start over.
  const furthestKey = `${storageKey}:furthest`;
  let furthestAhead = Number(localStorage.getItem(furthestKey)) || null;
  let lastAnnounced = "";
  // What the screen reader was last told, and when, at what progress.
  let spoken = { text: "", at: 0, progress: 0 };
  // Whether the line was paused at the last answer: its resuming is said at once.
  let wasPaused = false;
  let countdownTimer = null;
  let retryTimer = null;
  // Whether the last answer was a pre-queue place: the first answer after the draw brings the
  // exchanged token.
  let inPrequeue = false;
  // A time as the visitor reads it, in their zone, as the messages' `$day` and `$time`: "today"
  // or the day ("Friday 11 December"), and the clock time.
  function when(iso) {
    const at = new Date(iso);
    const time = at.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
    if (at.toDateString() === new Date().toDateString()) return { day: "today", time };
    return { day: at.toLocaleDateString(lang, { weekday: "long", day: "numeric", month: "long" }), time };
  }
  // How long until an opening, said as a countdown: "in 6 days", "in 3 hours", then 59:59.
  function countdown(seconds) {
    const relative = new Intl.RelativeTimeFormat(lang, { numeric: "always" });
    if (seconds >= 2 * 86400) return relative.format(Math.floor(seconds / 86400), "day");
    if (seconds >= 3600) return relative.format(Math.floor(seconds / 3600), "hour");
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  }

  async function call(method, path, extra = {}) {
    const headers = { Accept: "application/json", ...extra };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(path, { method, headers, credentials: "same-origin" });
    const body = await response.json().catch(() => ({}));
    return { response, body };
  }

  function stop() {
    if (source) source.close();
    source = null;
    clearTimeout(pollTimer);
    clearTimeout(retryTimer);
    // Nothing may join by itself once the page has stopped: the countdown goes too.
    clearInterval(countdownTimer);
  }

  function show(section) {
    $("place").hidden = section !== "place";
    $("gone").hidden = section !== "gone";
  }

  // What a refusal means for a person, by problem type; and whether joining again can help.
  const refusals = {
    "event-closed": ["closed", false],
    "sold-out": ["sold_out", false],
    "known-visitors-only": ["known_only", false],
    "invitation-required": ["invite_only", false],
    "invalid-code": ["code_invalid", false],
    "unknown-event": ["unknown", false],
    "store-unavailable": ["busy", true],
  };

  function refused(body) {
    const slug = (body.type || "").split(":").pop();
    if (slug === "not-open-yet") return upcoming();
    if (slug === "challenge-required" && body.challenge) return solve(body.challenge);
    const [key, canRejoin] = refusals[slug] || ["failed", true];
    gone(t(key), canRejoin);
    if (slug === "invitation-required" || slug === "invalid-code") {
      code = null;
      $("code-form").hidden = false;
    }
  }

  function gone(text, canRejoin = true) {
    stop();
    $("code-form").hidden = true;
    $("gone-text").textContent = text;
    $("rejoin").hidden = !canRejoin;
    show("gone");
  }

  // Shows `text` at once; a screen reader hears it only when it matters (`urgent`: a change of
  // state, the turn coming), when the line moved another tenth of the way, or after a minute, so
  // a line that moves every few seconds does not talk every few seconds.
  function announce(text, urgent = true) {
    if (text === lastAnnounced) return;
    $("status").textContent = text;
    lastAnnounced = text;
    const progress = Number($("progress").value) || 0;
    const now = Date.now();
    if (urgent || now - spoken.at >= 60000 || Math.abs(progress - spoken.progress) >= 10) {
      $("announcer").textContent = text;
      spoken = { text, at: now, progress };
    }
  }

  // Before the line (or its pre-queue) opens: a countdown, then the page joins by itself.
  async function upcoming() {
    stop();
    show("place");
    const response = await fetch(api, { headers: { Accept: "application/json" } });
    const info = response.ok ? await response.json() : {};
    const from = Date.parse(info.prequeue_from || info.opens_at || "") || Date.now() + 5000;
    // Nobody holds a place yet: there is nothing to leave.
    $("leave").hidden = true;
    showBar(null);
    $("position").textContent = "–";
    $("ahead").textContent = "–";
    announce(t("upcoming", when(from)));
    clearInterval(countdownTimer);
    const tick = () => {
      const left = Math.max(0, Math.ceil((from - Date.now()) / 1000));
      $("estimate").textContent = countdown(left);
      if (left === 0) {
        clearInterval(countdownTimer);
        // Spread over a second, so a crowd does not join in the same millisecond.
        setTimeout(start, Math.random() * 1000);
      }
    };
    tick();
    countdownTimer = setInterval(tick, 1000);
  }

  // The bar with its label, at `percent` (left as it is when null); none at all for a null label.
  function showBar(label, percent = null) {
    $("progress").hidden = label === null;
    $("progress-label").hidden = label === null;
    if (label === null) return;
    $("progress-label").textContent = label;
    if (percent !== null) {
      $("progress").value = percent;
      $("progress").textContent = `${number(percent)} %`;
    }
  }

  function keep(newToken) {
    token = newToken;
    localStorage.setItem(storageKey, token);
  }

  function render(place) {
    if (place.token) keep(place.token);
    $("leave").hidden = false;
    if (place.status === "prequeue") {
      inPrequeue = true;
      show("place");
      $("position").textContent = "–";
      $("ahead").textContent = "–";
      // When the draw that may give a place happens: the pre-queue's, or a random event's next.
      $("estimate").textContent = place.draws_at ? t("draw_at", when(place.draws_at)) : t("not_known");
      if (place.draw_chance !== undefined) {
        // An event that draws at random: everyone waiting has the same chance at each release,
        // and the bar shows it.
        const percent = Math.round(place.draw_chance * 1000) / 10;
        showBar(t("chance_label"), percent);
        announce(t("in_draw", { n: place.in_prequeue || 1, chance: percent }), false);
        return;
      }
      // Before the pre-queue's draw nobody moves: no bar.
      showBar(null);
      const said = t("prequeue", when(place.draws_at));
      announce(place.in_prequeue ? t("sentences", { first: said, second: t("in_prequeue", { n: place.in_prequeue }) }) : said, false);
      return;
    }
    if (inPrequeue && !place.token) {
      // Drawn: the status answer exchanges the pre-queue token for one with the drawn position.
      inPrequeue = false;
      call("GET", `${api}/status`).then(({ body }) => body.token && keep(body.token)).catch(() => {});
    }
    inPrequeue = false;
    if (place.status === "admitted" && place.pass && place.target_url) return admit(place);
    if (place.status === "expired") {
      localStorage.removeItem(storageKey);
      localStorage.removeItem(furthestKey);
      token = null;
      return gone(t(place.reason === "claim-window-passed" ? "claim_passed" : "expired"));
    }
    show("place");
    if (furthestAhead === null || place.ahead > furthestAhead) {
      furthestAhead = place.ahead;
      localStorage.setItem(furthestKey, String(furthestAhead));
    }
    $("position").textContent = number(place.position);
    $("ahead").textContent = number(place.ahead);
    const paused = place.state === "paused";
    const resumed = wasPaused && !paused;
    wasPaused = paused;
    // A pause with an announced end keeps an estimate: the rest of the pause, then the pace.
    $("estimate").textContent = place.estimate ? waitText(place.estimate)
      : paused ? t("paused_short")
      : t("not_known");
    // Say what the estimate rests on: a measured pace, or only the schedule.
    // People a minute; a line slower than one a minute in people an hour, never "0 a minute".
    const perMinute = place.estimate ? place.estimate.rate_per_min : 0;
    const hourly = perMinute < 1;
    const rate = hourly ? Math.round(perMinute * 60) || Number((perMinute * 60).toPrecision(1)) : Math.round(perMinute);
    const basis = (place.estimate && place.estimate.basis === "measured" ? "basis_measured" : "basis_schedule") + (hourly ? "_hourly" : "");
    $("basis").textContent = paused || !place.estimate ? "" : t(basis, { rate });
    if (furthestAhead === 0) {
      // Nobody was ever ahead: there is no way to the front to show, and a full bar would say
      // "done" to someone still waiting (the first of a paused line).
      showBar(null);
    } else {
      // Never quite empty, so the bar is visible from the start.
      showBar(t("progress_label"), Math.max(2, Math.round(((furthestAhead - place.ahead) / furthestAhead) * 100)));
    }
    if (paused) {
      announce(place.resumes_at ? t("paused_until", when(place.resumes_at)) : t("paused_line"));
    } else if (place.ahead === 0) {
      announce(t("next"));
    } else {
      const people = t("ahead", { n: place.ahead });
      announce(place.estimate ? t("sentences", { first: people, second: t("estimated", { wait: waitText(place.estimate) }) }) : people, resumed);
    }
  }

  function admit(place) {
    stop();
    announce(t("your_turn"));
    const target = new URL(place.target_url);
    target.searchParams.set("waitroom_pass", place.pass);
    // Where the visitor was going when the edge sent them here; the site's hand-over route checks
    // it against the event's allowed origins before sending them on.
    const returnTo = new URLSearchParams(window.location.search).get("return_to");
    if (returnTo) target.searchParams.set("to", returnTo);
    window.location.assign(target.toString());
  }

  // Busy (the store away: 503) or too many joins from here (429): try again by itself after the
  // `Retry-After` the answer gave, never asking the visitor to press anything.
  function retryLater(response) {
    stop();
    show("place");
    $("leave").hidden = !token;
    const seconds = Math.min(Math.max(Number(response.headers.get("Retry-After")) || 5, 1), 60);
    announce(t("busy_retrying"));
    retryTimer = setTimeout(start, jitter(seconds * 1000));
  }

  // An event that asks for proof of work before a place: ALTCHA's solver works in a Web Worker
  // (the page stays responsive), the bar says work is going on, then the page joins again with
  // the solution: the place is taken when the work is done.
  function solve(challenge) {
    stop();
    show("place");
    $("leave").hidden = true;
    $("position").textContent = "–";
    $("ahead").textContent = "–";
    $("estimate").textContent = t("not_known");
    showBar(t("challenge_working"));
    $("progress").removeAttribute("value");
    announce(t("challenge_working"));
    const worker = new Worker("/assets/altcha-worker.js", { type: "module" });
    const failed = () => {
      worker.terminate();
      gone(t("failed"), true);
    };
    worker.onerror = failed;
    worker.onmessage = (message) => {
      if (!message.data || message.data.error) return failed();
      worker.terminate();
      solution = btoa(JSON.stringify({ challenge, solution: message.data }));
      start();
    };
    worker.postMessage({ type: "work", challenge, counterStart: 0, counterStep: 1, timeout: 0 });
  }

  // Joins, or keeps the place the token holds; a busy answer (503, 429) goes to `whenBusy`.
  async function join(whenBusy) {
    const extra = {};
    if (code) extra["X-Waitroom-Code"] = code;
    if (solution) extra["X-Waitroom-Solution"] = solution;
    const { response, body } = await call("POST", `${api}/join`, extra);
    if (response.status === 503 || response.status === 429) {
      whenBusy(response);
      return null;
    }
    if (!response.ok) {
      refused(body);
      return null;
    }
    keep(body.token);
    // Spent: the token holds the place from now on.
    code = null;
    solution = null;
    expiresAt = body.expires_at;
    renewBeforeExpiry();
    render(body);
    return body;
  }

  const jitter = (ms) => Math.round(ms * (0.8 + Math.random() * 0.4));

  // Renews the token halfway through what is left of its life, so a long wait never loses the
  // place; a busy answer to a renewal changes nothing but the next try, halfway again (at least a
  // second apart), still before the token runs out.
  function renewBeforeExpiry() {
    clearTimeout(renewTimer);
    const left = Date.parse(expiresAt) - Date.now();
    renewTimer = setTimeout(() => {
      if (token) join(renewBeforeExpiry);
    }, Math.max(left / 2, 1000));
  }

  function poll(delay) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(async () => {
      try {
        const { response, body } = await call("GET", `${api}/status`);
        if (response.status === 410) return gone(t("left"));
        if (!response.ok) return poll(jitter(5000));
        render(body);
        if (body.status === "waiting" || body.status === "prequeue") poll(jitter(body.poll_after_ms || 5000));
      } catch (_) {
        poll(jitter(5000));
      }
    }, delay);
  }

  function follow() {
    if (!("EventSource" in window)) return poll(jitter(1000));
    // The token travels in the cookie the join set, never in the address (which proxies log).
    source = new EventSource(`${api}/stream`);
    source.addEventListener("status", (message) => {
      streamFailures = 0;
      render(JSON.parse(message.data));
    });
    source.addEventListener("left", () => gone(t("left")));
    source.onerror = () => {
      streamFailures += 1;
      // Closed for good (the replica refused the stream: too many open) or failing again and again:
      // ask for the status now and then instead.
      if (source.readyState === EventSource.CLOSED || streamFailures >= 3) {
        source.close();
        source = null;
        poll(jitter(2000));
      }
    };
  }

  async function start() {
    const place = await join(retryLater);
    if (place && (place.status === "waiting" || place.status === "prequeue")) follow();
  }

  async function brand() {
    const response = await fetch(api, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const info = await response.json();
    const title = info.title || info.event;
    $("title").textContent = title;
    document.title = `${title} – ${t("title_suffix")}`;
    if (info.message) {
      $("message").textContent = info.message;
      $("message").hidden = false;
    }
    if (info.logo_url) {
      $("logo").src = info.logo_url;
      $("logo").alt = title;
      $("logo").hidden = false;
    }
    // The branding's colours, made readable by the server (a dark background gets a dark card).
    for (const [key, value] of Object.entries(info.palette || {})) {
      document.documentElement.style.setProperty(`--${key.replace("_", "-")}`, value);
    }
  }

  $("leave").addEventListener("click", async () => {
    if (!window.confirm(t("confirm_leave"))) return;
    await call("POST", `${api}/leave`);
    localStorage.removeItem(storageKey);
    localStorage.removeItem(furthestKey);
    token = null;
    gone(t("left_thanks"));
    // The outcome, where the button that is gone was: keyboard and screen reader users land on it.
    $("gone-text").focus();
  });
  $("code-form").addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    code = $("code").value.trim();
    $("code-form").hidden = true;
    show("place");
    announce(t("joining"));
    start();
  });
  $("rejoin").addEventListener("click", () => {
    furthestAhead = null;
    localStorage.removeItem(furthestKey);
    announce(t("joining"));
    start();
  });
  brand();
  start();
})();
