import { handler } from './altcha-worker-shared.js';
import { deriveKey } from './altcha-pbkdf2.js';
handler({
    deriveKey,
});
