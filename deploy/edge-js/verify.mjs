// Verifies waitroom admission passes at a JavaScript edge, with the public keys waitroom serves at
// /.well-known/jwks.json (an Ed25519 `pass_key` on the waitroom side). Nothing here can sign a
// pass: the edge holds no secret. Works wherever `jose` runs: Cloudflare Workers, Fastly Compute,
// Vercel edge functions, Deno, Node 20+.

import { createRemoteJWKSet, jwtVerify, errors } from "jose";

/**
 * A function that checks a pass for one event and answers its claims, or throws a `PassRefused`.
 *
 * @param {object} options
 * @param {string} options.jwksUrl  waitroom's `https://queue.example.com/.well-known/jwks.json`
 * @param {string} options.issuer   waitroom's `issuer` setting (default `waitroom`)
 * @param {string} options.event    the event id the protected site belongs to
 */
export function passVerifier({ jwksUrl, issuer = "waitroom", event }) {
  // Fetched once, cached, and fetched again when a pass names a key it has not seen (rotation).
  const keys = createRemoteJWKSet(new URL(jwksUrl));
  return async function verifyPass(pass) {
    if (!pass) throw new PassRefused("missing", "no pass was presented");
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(pass, keys, {
        issuer,
        audience: event,
        algorithms: ["EdDSA"],
      }));
    } catch (e) {
      if (e instanceof errors.JWTExpired) throw new PassRefused("expired", "the pass expired");
      if (e instanceof errors.JWTClaimValidationFailed) {
        throw new PassRefused("wrong-claims", `the pass is not for this site: ${e.claim}`);
      }
      throw new PassRefused("invalid", "the pass is not genuine");
    }
    if (claims.kind !== "pass") throw new PassRefused("not-a-pass", "a waiting token is no pass");
    return claims;
  };
}

/** Why a pass was refused: `code` is stable, `message` a sentence. */
export class PassRefused extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/**
 * The pass a request carries for `event`: the `<prefix><event>.pass` cookie that waitroom's
 * hand-over sets on the site's domain, else `?waitroom_pass=` in the URL (the first request after
 * the waiting page).
 */
export function presentedPass(request, event, prefix = "waitroom_") {
  const wanted = `${prefix}${event}.pass`;
  for (const part of (request.headers.get("cookie") || "").split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === wanted) return decodeURIComponent(value.join("="));
  }
  return new URL(request.url).searchParams.get("waitroom_pass");
}

/**
 * The renewed pass as a `Set-Cookie` value for the visitor, or null: a pass with less than half its
 * lifetime left is shown to waitroom's gate, which renews it if the event renews passes on use
 * (`pass_renewal_max_s`) and the admission may last that long. The edge verifies passes by itself;
 * only a visitor still using the site near the end of a pass costs a call to waitroom (one per half
 * lifetime). Never throws: a waitroom that cannot be reached renews nothing, and the pass lasts as
 * long as it was going to.
 *
 * @param {object} options
 * @param {string} options.waitroomUrl  waitroom's public origin
 * @param {string} options.event        the event id
 * @param {string} options.pass         the pass the request carried, already verified
 * @param {object} options.claims       its claims (`iat`, `exp`)
 * @param {string} [options.prefix]     waitroom's `cookie_prefix`
 * @param {number} [options.nowS]       unix seconds now
 */
export async function renewedPassCookie({
  waitroomUrl,
  event,
  pass,
  claims,
  prefix = "waitroom_",
  nowS = Date.now() / 1000,
}) {
  if (claims.exp - nowS >= (claims.exp - claims.iat) / 2) return null;
  try {
    const gate = new URL(`/v1/events/${encodeURIComponent(event)}/gate`, waitroomUrl);
    const answer = await fetch(gate, { headers: { authorization: `Bearer ${pass}` } });
    if (answer.status !== 204) return null;
    const wanted = `${prefix}${event}.pass=`;
    return answer.headers.getSetCookie().find((cookie) => cookie.startsWith(wanted)) ?? null;
  } catch {
    return null;
  }
}
