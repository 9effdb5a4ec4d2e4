// A Cloudflare Worker in front of the booking site (the same shape fits Vercel and Deno): requests
// with a genuine pass for the event go through; everyone else goes to the waiting page, with where
// they were going. Settings come from the Worker's environment: WAITROOM_URL (the waiting room's
// public origin), WAITROOM_EVENT, WAITROOM_ISSUER.

import { passVerifier, presentedPass, PassRefused, renewedPassCookie } from "./verify.mjs";

let verify;

export default {
  async fetch(request, env) {
    verify ??= passVerifier({
      jwksUrl: `${env.WAITROOM_URL}/.well-known/jwks.json`,
      issuer: env.WAITROOM_ISSUER || "waitroom",
      event: env.WAITROOM_EVENT,
    });
    const pass = presentedPass(request, env.WAITROOM_EVENT);
    let claims;
    try {
      claims = await verify(pass);
    } catch (e) {
      if (!(e instanceof PassRefused)) throw e;
      const page = new URL(`/e/${env.WAITROOM_EVENT}`, env.WAITROOM_URL);
      page.searchParams.set("return_to", request.url);
      return Response.redirect(page.toString(), 302);
    }
    // A pass past half its lifetime is renewed by waitroom's gate (when the event renews passes),
    // asked beside the site's own answer so the visitor waits for neither twice.
    const [answer, renewed] = await Promise.all([
      fetch(request),
      renewedPassCookie({ waitroomUrl: env.WAITROOM_URL, event: env.WAITROOM_EVENT, pass, claims }),
    ]);
    if (!renewed) return answer;
    const response = new Response(answer.body, answer);
    const secure = new URL(request.url).protocol === "https:";
    response.headers.append("set-cookie", secure && !/;\s*secure/i.test(renewed) ? `${renewed}; Secure` : renewed);
    return response;
  },
};
