// A booking service's side of waitroom, small enough to read in one go: it verifies the visitor's
// admission pass with waitroom's public keys (no secret), consumes it so one admission lets one
// person in, and reports the visitor done so their slot frees up. Run it with node 20+:
//
//   WAITROOM_URL=https://queue.example.com WAITROOM_EVENT=summer-tour \
//   WAITROOM_SERVICE_TOKEN=... PORT=3000 node examples/booking-service/server.mjs
//
// (after `npm ci` in deploy/edge-js, whose verifier it uses). Routes:
//   GET  /checkout/...    the protected pages (/checkout, /checkout/, anything under it: what the
//                         shipped nginx configurations put behind the gate): need a pass (cookie
//                         `waitroom_<event>.pass` from the hand-over, or ?waitroom_pass=); consume it
//                         on the first visit
//   POST /checkout/done   body: the pass; tells waitroom the visitor is done

import http from "node:http";
import { passVerifier, presentedPass, PassRefused } from "../../deploy/edge-js/verify.mjs";

const waitroom = process.env.WAITROOM_URL;
const event = process.env.WAITROOM_EVENT;
const serviceToken = process.env.WAITROOM_SERVICE_TOKEN;
const verifyPass = passVerifier({
  jwksUrl: `${waitroom}/.well-known/jwks.json`,
  issuer: process.env.WAITROOM_ISSUER || "waitroom",
  event,
});

/** Calls one of waitroom's booking-service routes with the service's own credential. */
async function callWaitroom(path, body) {
  const response = await fetch(`${waitroom}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${serviceToken}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

function answer(res, status, body, headers = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

async function checkout(req, res) {
  const request = new Request(new URL(req.url, `http://${req.headers.host}`), {
    headers: req.headers,
  });
  const pass = presentedPass(request, event);
  try {
    const claims = await verifyPass(pass);
    // One admission, one person: the first presentation wins, a shared link gets nothing.
    const consumed = await callWaitroom("/v1/passes/consume", { pass, event });
    if (consumed.status === 409) {
      return answer(res, 403, { error: "pass-used", detail: consumed.body.detail });
    }
    if (consumed.status !== 200) {
      return answer(res, 502, { error: "waitroom", detail: consumed.body.detail });
    }
    return answer(res, 200, { welcome: claims.sub, position: claims.pos });
  } catch (e) {
    if (!(e instanceof PassRefused)) throw e;
    const page = new URL(`/e/${event}`, waitroom);
    page.searchParams.set("return_to", request.url);
    return answer(res, 302, { error: e.code }, { location: page.toString() });
  }
}

async function done(req, res) {
  let pass = "";
  for await (const chunk of req) pass += chunk;
  const completed = await callWaitroom(`/v1/events/${event}/complete`, { token: pass.trim() });
  answer(res, completed.status, completed.body);
}

http
  .createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const underCheckout = path === "/checkout" || path.startsWith("/checkout/");
    const route =
      req.method === "POST" && path === "/checkout/done" ? done
      : req.method === "GET" && underCheckout ? checkout
      : null;
    if (!route) return answer(res, 404, { error: "not-found" });
    route(req, res).catch((e) => answer(res, 500, { error: "internal", detail: String(e) }));
  })
  .listen(Number(process.env.PORT || 3000), "127.0.0.1");
