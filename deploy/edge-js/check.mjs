// Checks one pass from the command line, as the edge would:
//   node check.mjs <jwks url> <issuer> <event> <pass>
// Prints the pass's claims and exits 0, or prints the refusal's code and exits 1.

import { passVerifier, PassRefused } from "./verify.mjs";

const [jwksUrl, issuer, event, pass] = process.argv.slice(2);
if (!jwksUrl || !issuer || !event) {
  console.error("usage: node check.mjs <jwks url> <issuer> <event> <pass>");
  process.exit(2);
}
try {
  const claims = await passVerifier({ jwksUrl, issuer, event })(pass);
  console.log(JSON.stringify({ admitted: true, claims }));
} catch (e) {
  if (!(e instanceof PassRefused)) throw e;
  console.log(JSON.stringify({ admitted: false, code: e.code, message: e.message }));
  process.exit(1);
}
