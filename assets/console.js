// The console's event page: live charts of the figures the admin API's feed pushes every second,
// and controls that call the admin API with the session's CSRF token, each after a confirmation
// that says what it will do.
(() => {
  'use strict';
  const main = document.querySelector('main[data-event]');
  const event = main.dataset.event;
  const csrf = main.dataset.csrf;
  const base = `/v1/admin/events/${encodeURIComponent(event)}`;
  const numbers = new Intl.NumberFormat('en');
  const $ = (id) => document.getElementById(id);
  const say = (text) => { $('message').textContent = text; };
  // Ten minutes of figures, one a second.
  const KEPT = 600;

  /** A duration in words, never falsely precise. */
  const duration = (s) => {
    if (s === null || s === undefined) return 'not within four hours';
    if (s < 60) return 'under a minute';
    const min = Math.round(s / 60);
    if (min < 60) return `about ${min} min`;
    const h = Math.floor(min / 60);
    return `about ${h} h ${min % 60} min`;
  };

  /** Calls the admin API as this session; a problem document's detail is thrown. */
  const api = async (method, path, body) => {
    const response = await fetch(base + path, {
      method,
      credentials: 'same-origin',
      headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.detail || answer.title || `HTTP ${response.status}`);
    return answer;
  };

  /** Asks the operator: resolves true if they confirmed. */
  const confirmed = (text, more) => new Promise((resolve) => {
    const dialog = $('confirm');
    $('confirm-text').textContent = text;
    $('confirm-what-if').textContent = more || '';
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.returnValue = '';
    dialog.showModal();
  });

  // The charts, made at the first figures (the lanes are known then).
  const charts = {};
  const series = {};
  window.consoleCharts = charts;
  let last = null;
  let figures = null;

  const chart = (id, labels, colors) => {
    const element = $(id);
    const data = [[], ...labels.map(() => [])];
    const plot = new uPlot({
      width: Math.max(element.clientWidth, 200),
      height: 180,
      series: [{}, ...labels.map((label, i) => ({ label, stroke: colors[i % colors.length], width: 2 }))],
      axes: [{}, { size: 60 }],
      legend: { live: false },
    }, data, element);
    series[id] = data;
    charts[id] = plot;
  };
  const COLORS = ['#1f5fbf', '#b3541e', '#2e7d32', '#6a1b9a', '#00838f', '#ad1457', '#5d4037', '#37474f'];

  const makeCharts = (view) => {
    const lanes = view.lane_lines || [];
    const waiting = lanes.length ? lanes.map((lane) => `Waiting: ${lane.lane}`) : ['Waiting'];
    chart('chart-waiting', waiting, COLORS);
    chart('chart-flow', ['Joins a minute', 'Releases a minute'], ['#1f5fbf', '#2e7d32']);
    chart('chart-admitted', ['Admitted through', 'Active'], ['#2e7d32', '#b3541e']);
    chart('chart-pace', ['Pace a minute', 'Last one waits (min)'], ['#6a1b9a', '#b3541e']);
    window.addEventListener('resize', () => {
      for (const [id, plot] of Object.entries(charts)) {
        plot.setSize({ width: Math.max($(id).clientWidth, 200), height: 180 });
      }
    });
  };

  const push = (id, at, values) => {
    const data = series[id];
    data[0].push(at);
    values.forEach((value, i) => data[i + 1].push(value));
    if (data[0].length > KEPT) data.forEach((column) => column.shift());
    charts[id].setData(data);
  };

  const sum = (view, field) => (view.lane_lines && view.lane_lines.length
    ? view.lane_lines.reduce((total, lane) => total + lane[field], 0)
    : view[field]);

  const show = (now) => {
    const view = now.view;
    if (!charts['chart-waiting']) {
      makeCharts(view);
      $('batch-size').value = view.batch_size;
      $('interval').value = view.release_interval_ms / 1000;
      $('max-active').value = view.max_active;
      $('method').value = view.method;
      $('opens-at').value = view.opens_at || '';
      $('closes-at').value = view.closes_at || '';
      $('pauses-at').value = view.pauses_at || '';
      $('resumes-at').value = view.resumes_at || '';
    }
    const at = now.at_ms / 1000;
    const waiting = view.waiting + view.in_draw;
    $('standing').textContent = `Phase: ${now.phase}. State: ${view.state}.`;
    $('waiting').textContent = numbers.format(waiting);
    $('admitted').textContent = numbers.format(view.admitted_through);
    $('active').textContent = view.max_active
      ? `${numbers.format(view.active)} of ${numbers.format(view.max_active)}`
      : numbers.format(view.active);
    $('pace').textContent = now.pace_per_min === undefined
      ? 'not measured yet' : `${numbers.format(Math.round(now.pace_per_min))} a minute`;
    if (!waiting) $('last-wait').textContent = 'nobody is waiting';
    else if (now.last_wait_s === undefined) $('last-wait').textContent = 'not known: no pace yet';
    else $('last-wait').textContent = `in ${duration(now.last_wait_s)}`;
    $('refused').textContent = numbers.format(now.rate_limited);
    $('store').textContent = now.degraded.length
      ? now.degraded.join(', ')
      : `healthy${now.data_losses ? `; data lost and restored ${now.data_losses} times` : ''}`;
    $('draw').textContent = now.draw_commitment
      ? `${now.drawn ? 'drawn' : 'committed'}: ${now.draw_commitment.slice(0, 16)}…`
      : 'none';
    const lanes = view.lane_lines && view.lane_lines.length ? view.lane_lines.map((lane) => lane.waiting) : [waiting];
    push('chart-waiting', at, lanes);
    const joined = sum(view, 'issued') + view.in_draw;
    const admitted = sum(view, 'admitted_through');
    if (last) {
      const minutes = (now.at_ms - last.at_ms) / 60000;
      push('chart-flow', at, [Math.max(0, (joined - last.joined) / minutes), Math.max(0, (admitted - last.admitted) / minutes)]);
    } else {
      push('chart-flow', at, [null, null]);
    }
    push('chart-admitted', at, [view.admitted_through, view.active]);
    push('chart-pace', at, [now.pace_per_min ?? null, now.last_wait_s === undefined ? null : now.last_wait_s / 60]);
    last = { at_ms: now.at_ms, joined, admitted };
    figures = now;
  };

  const feed = new EventSource(`${base}/feed`);
  feed.addEventListener('figures', (message) => show(JSON.parse(message.data)));
  feed.addEventListener('error', () => say('The live figures paused; reconnecting…'));
  feed.addEventListener('open', () => { if ($('message').textContent.startsWith('The live')) say(''); });

  const waitingNow = () => (figures ? figures.view.waiting + figures.view.in_draw : 0);

  /** Asks, then calls the admin API and says how it went. */
  const act = async (question, more, call, done) => {
    if (!(await confirmed(question, more))) return;
    try {
      await call();
      say(done);
    } catch (error) {
      say(`Not done: ${error.message}`);
    }
  };

  $('pause').addEventListener('click', () => act(
    `Pauses ${event}: nobody is let in until you resume; the ${numbers.format(waitingNow())} waiting keep their places.`,
    '', () => api('POST', '/pause'), 'Paused.'));
  $('resume').addEventListener('click', () => act(
    `Resumes ${event}: releases go on as the settings say.`,
    '', () => api('POST', '/resume'), 'Resumed.'));
  $('advance').addEventListener('submit', (e) => {
    e.preventDefault();
    const by = Number($('advance-by').value);
    const admits = Math.min(by, waitingNow());
    act(`Admits ${numbers.format(admits)} ${admits === 1 ? 'person' : 'people'} now.`, '',
      () => api('POST', '/advance', { by }), `Let ${numbers.format(admits)} in.`);
  });
  $('settings').addEventListener('submit', async (e) => {
    e.preventDefault();
    const change = {
      batch_size: Number($('batch-size').value),
      release_interval_ms: Math.round(Number($('interval').value) * 1000),
      max_active: Number($('max-active').value),
      method: $('method').value,
    };
    const perMinute = change.batch_size * 60000 / change.release_interval_ms;
    const question = change.batch_size
      ? `Releases ${numbers.format(change.batch_size)} every ${change.release_interval_ms / 1000} s (${numbers.format(Math.round(perMinute))} a minute)${change.max_active ? `, at most ${numbers.format(change.max_active)} active at once` : ''}, ${change.method}.`
      : `Releases nobody on a schedule (by hand only), ${change.method}.`;
    let more = '';
    try {
      const weighed = await api('POST', '/what-if', change);
      const within = (fare) => {
        if (fare.empties_in_s === undefined) return 'not within four hours';
        return fare.empties_in_s < 60 ? 'within a minute' : `in ${duration(fare.empties_in_s)}`;
      };
      more = `The ${numbers.format(weighed.waiting)} waiting now are all in ${within(weighed.changed)} with the change (${within(weighed.now)} as it is)${weighed.changed.wait_p50_s === undefined ? '' : `; half of them wait ${duration(weighed.changed.wait_p50_s)}`}.`;
    } catch (error) {
      more = `(No forecast: ${error.message})`;
    }
    act(question, more, () => api('PUT', '', change), 'Changed.');
  });
  $('schedule').addEventListener('submit', (e) => {
    e.preventDefault();
    const opens = $('opens-at').value.trim() || null;
    const closes = $('closes-at').value.trim() || null;
    const pauses = $('pauses-at').value.trim() || null;
    const resumes = $('resumes-at').value.trim() || null;
    const pause = pauses ? `; pauses at ${pauses} ${resumes ? `until ${resumes}` : 'until resumed by hand'}`
      : resumes ? `; a pause ends at ${resumes}` : '';
    act(`Opens ${opens ? `at ${opens}` : 'now'}; ${closes ? `closes at ${closes}` : 'closes only by hand'}${pause}.`, '',
      () => api('PUT', '', { opens_at: opens, closes_at: closes, pauses_at: pauses, resumes_at: resumes }), 'Scheduled.');
  });
  $('delete').addEventListener('click', () => act(
    `Deletes ${event} and all its data: the ${numbers.format(waitingNow())} waiting lose their places, and its tokens are refused from then on.`,
    '', async () => { await api('DELETE', ''); window.location.assign('/console'); }, 'Deleted.'));
})();
