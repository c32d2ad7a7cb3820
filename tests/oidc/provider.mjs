// A real OpenID Provider (oidc-provider, pinned in package-lock.json) for
// squall's third-party login tests, on a loopback port, with signing keys of
// its own made at start: one RSA key (kid "rsa-key", RS256) and one P-256
// key (kid "ec-key", ES256). Two instances share key ids but not keys, so a
// token from one does not verify with the other's key set.
//
// usage: node provider.mjs PORT CLIENTS_JSON
//
// CLIENTS_JSON is oidc-provider's client metadata list. Any login name and
// password sign in (oidc-provider's development interactions); the account
// for login "ada" is sub "ada", ada@example.test. Prints "listening on
// ISSUER" once it serves.

import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, clients] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

function signingKey(type, options, kid, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

const provider = new Provider(issuer, {
  clients: JSON.parse(clients),
  jwks: {
    keys: [
      signingKey('rsa', { modulusLength: 2048 }, 'rsa-key', 'RS256'),
      signingKey('ec', { namedCurve: 'P-256' }, 'ec-key', 'ES256'),
    ],
  },
  cookies: { keys: ['a key for this test provider only'] },
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  findAccount: (ctx, id) => ({
    accountId: id,
    claims: () => ({
      sub: id,
      email: `${id}@example.test`,
      email_verified: true,
      name: `User ${id}`,
      preferred_username: id,
    }),
  }),
  features: { devInteractions: { enabled: true } },
});

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`listening on ${issuer}`);
});
