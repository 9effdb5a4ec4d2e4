// Draws a `waitroom simulate` report's charts from RUNS (one entry per run, see report.rs) with
// uPlot. Runs side by side share each chart: one colour per run.
"use strict";
const COLOURS = ["#1f5fa8", "#c2410c", "#15803d", "#7e22ce"];
const width = (id) => Math.max(320, document.getElementById(id).clientWidth);
const minutes = { label: "minutes from the opening" };
// Room for the tick labels of large counts beside the axis' own label.
const counts = (label, more = {}) => ({ label, size: 80, ...more });

function chart(id, title, tables, series, axes) {
  const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
  const options = {
    title,
    width: width(id),
    height: 320,
    scales: { x: { time: false } },
    series: [{ label: "minutes" }, ...series],
    axes,
  };
  return new uPlot(options, data, document.getElementById(id));
}

function named(run, what) {
  return RUNS.length === 1 ? what : `${run.summary.name}: ${what}`;
}

function draw() {
  for (const id of ["line", "waits", "estimates"]) document.getElementById(id).replaceChildren();
  chart(
    "line",
    "The line",
    RUNS.map((run) => run.line),
    RUNS.flatMap((run, i) => [
      { label: named(run, "waiting"), stroke: COLOURS[i], width: 2 },
      { label: named(run, "admitted"), stroke: COLOURS[i], dash: [8, 4], scale: "admitted" },
      { label: named(run, "in a session"), stroke: COLOURS[i], dash: [2, 3] },
    ]),
    [minutes, counts("people waiting, in a session"), counts("admitted", { side: 1, scale: "admitted", grid: { show: false } })],
  );
  chart(
    "waits",
    "Waits",
    RUNS.map((run) => run.waits),
    RUNS.map((run, i) => ({
      label: named(run, "people"),
      stroke: COLOURS[i],
      fill: COLOURS[i] + "33",
      paths: uPlot.paths.stepped({ align: 1 }),
    })),
    [{ label: "minutes waited" }, counts("people")],
  );
  chart(
    "estimates",
    "Shown against had",
    RUNS.map((run) => run.estimates),
    RUNS.flatMap((run, i) => [
      { label: named(run, "wait shown at joining"), stroke: COLOURS[i], dash: [6, 4], spanGaps: true },
      { label: named(run, "wait had"), stroke: COLOURS[i], width: 2, spanGaps: true },
    ]),
    [{ label: "joined, minutes from the opening" }, counts("minutes")],
  );
}

draw();
let resizing;
window.addEventListener("resize", () => {
  clearTimeout(resizing);
  resizing = setTimeout(draw, 200);
});
