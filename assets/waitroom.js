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

  let token = localStorage.getItem(storageKey);
  let renewAt = 0;
  let source = null;
  let pollTimer = null;
  let streamFailures = 0;
  // The longest line seen, kept across reloads so the progress bar does not start over.
  const furthestKey = `${storageKey}:furthest`;
  let furthestAhead = Number(localStorage.getItem(furthestKey)) || null;
  let lastAnnounced = "";

  async function call(method, path) {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(path, { method, headers, credentials: "same-origin" });
    const body = await response.json().catch(() => ({}));
    return { response, body };
  }

  function stop() {
    if (source) source.close();
    source = null;
    clearTimeout(pollTimer);
  }

  function show(section) {
    $("place").hidden = section !== "place";
    $("gone").hidden = section !== "gone";
  }

  // What a refusal means for a person, by problem type; and whether joining again can help.
  const refusals = {
    "event-closed": ["This waiting room is closed: it takes no new visitors.", false],
    "unknown-event": ["There is no waiting room at this address. Please check the link you followed.", false],
    "store-unavailable": ["The waiting room is very busy right now. Please try again in a moment.", true],
  };

  function refused(body) {
    const slug = (body.type || "").split(":").pop();
    const [text, canRejoin] = refusals[slug]
      || ["The waiting room could not take you in right now. Please try again.", true];
    gone(text, canRejoin);
  }

  function gone(text, canRejoin = true) {
    stop();
    $("gone-text").textContent = text;
    $("rejoin").hidden = !canRejoin;
    show("gone");
  }

  function announce(text) {
    if (text !== lastAnnounced) {
      $("status").textContent = text;
      lastAnnounced = text;
    }
  }

  function render(place) {
    if (place.status === "admitted" && place.pass && place.target_url) return admit(place);
    if (place.status === "expired") {
      localStorage.removeItem(storageKey);
      localStorage.removeItem(furthestKey);
      token = null;
      return gone(place.reason === "claim-window-passed"
        ? "Your turn came and went while you were away, so your slot went to the next person."
        : "Your place expired because this page was away too long.");
    }
    show("place");
    if (furthestAhead === null || place.ahead > furthestAhead) {
      furthestAhead = Math.max(place.ahead, 1);
      localStorage.setItem(furthestKey, String(furthestAhead));
    }
    $("position").textContent = place.position.toLocaleString();
    $("ahead").textContent = place.ahead.toLocaleString();
    const paused = place.state === "paused";
    $("estimate").textContent = paused ? "Paused"
      : place.estimate ? place.estimate.text
      : "Not known yet";
    // Say what the estimate rests on: a measured pace, or only the schedule.
    const rate = place.estimate && place.estimate.rate_per_min.toLocaleString();
    $("basis").textContent = paused || !place.estimate ? ""
      : place.estimate.basis === "measured"
        ? `Based on the pace of the last releases: about ${rate} people a minute.`
        : `Based on the release schedule (${rate} people a minute); nobody has been let through yet.`;
    // Never quite empty, so the bar is visible from the start.
    $("progress").value = Math.max(2, Math.round(((furthestAhead - place.ahead) / furthestAhead) * 100));
    $("progress").textContent = `${$("progress").value}%`;
    if (paused) {
      announce("The line is paused for now. You keep your place.");
    } else if (place.ahead === 0) {
      announce("You are next. It is almost your turn.");
    } else {
      const people = place.ahead === 1 ? "1 person" : `${place.ahead.toLocaleString()} people`;
      const wait = place.estimate ? ` Estimated wait: ${place.estimate.text}.` : "";
      announce(`${people} ahead of you.${wait}`);
    }
  }

  function admit(place) {
    stop();
    announce("It is your turn! Taking you there now…");
    const target = new URL(place.target_url);
    target.searchParams.set("waitroom_pass", place.pass);
    // Where the visitor was going when the edge sent them here; the site's hand-over route checks
    // it against the event's allowed origins before sending them on.
    const returnTo = new URLSearchParams(window.location.search).get("return_to");
    if (returnTo) target.searchParams.set("to", returnTo);
    window.location.assign(target.toString());
  }

  async function join() {
    const { response, body } = await call("POST", `${api}/join`);
    if (!response.ok) {
      refused(body);
      return null;
    }
    token = body.token;
    localStorage.setItem(storageKey, token);
    // Renew the token halfway through its life, so a long wait never loses the place.
    renewAt = Date.now() + (Date.parse(body.expires_at) - Date.now()) / 2;
    render(body);
    return body;
  }

  const jitter = (ms) => Math.round(ms * (0.8 + Math.random() * 0.4));

  function poll(delay) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(async () => {
      try {
        const { response, body } = await call("GET", `${api}/status`);
        if (response.status === 410) return gone("You left the line.");
        if (!response.ok) return poll(jitter(5000));
        render(body);
        if (body.status === "waiting") poll(jitter(body.poll_after_ms || 5000));
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
    source.addEventListener("left", () => gone("You left the line."));
    source.onerror = () => {
      streamFailures += 1;
      if (streamFailures >= 3) {
        source.close();
        source = null;
        poll(jitter(2000));
      }
    };
  }

  async function start() {
    const place = await join();
    if (place && place.status === "waiting") follow();
  }

  async function brand() {
    const response = await fetch(api, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const info = await response.json();
    const title = info.title || info.event;
    $("title").textContent = title;
    document.title = `${title} – waiting room`;
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
    if (!window.confirm("Leave the line? You will lose your place.")) return;
    await call("POST", `${api}/leave`);
    localStorage.removeItem(storageKey);
    localStorage.removeItem(furthestKey);
    token = null;
    gone("You left the line. Thank you for letting the next person in.");
  });
  $("rejoin").addEventListener("click", () => {
    furthestAhead = null;
    localStorage.removeItem(furthestKey);
    announce("Joining the line…");
    start();
  });
  setInterval(() => {
    if (token && renewAt && Date.now() > renewAt) join();
  }, 30000);

  brand();
  start();
})();
