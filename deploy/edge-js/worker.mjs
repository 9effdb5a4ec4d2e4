// A Cloudflare Worker in front of the booking site (the same shape fits Vercel and Deno): requests
// with a genuine pass for the event go through; everyone else goes to the waiting page, with where
// they were going. Settings come from the Worker's environment: WAITROOM_URL (the waiting room's
// public origin), WAITROOM_EVENT, WAITROOM_ISSUER.

import { passVerifier, presentedPass, PassRefused } from "./verify.mjs";

let verify;

export default {
  async fetch(request, env) {
    verify ??= passVerifier({
      jwksUrl: `${env.WAITROOM_URL}/.well-known/jwks.json`,
      issuer: env.WAITROOM_ISSUER || "waitroom",
      event: env.WAITROOM_EVENT,
    });
    try {
      await verify(presentedPass(request, env.WAITROOM_EVENT));
      return fetch(request);
    } catch (e) {
      if (!(e instanceof PassRefused)) throw e;
      const page = new URL(`/e/${env.WAITROOM_EVENT}`, env.WAITROOM_URL);
      page.searchParams.set("return_to", request.url);
      return Response.redirect(page.toString(), 302);
    }
  },
};
