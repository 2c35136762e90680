// Drives the example token server with oauth4webapi, an independent OAuth
// 2.0 client that speaks DPoP (RFC 9449), and prints what happened as one
// JSON object on stdout, for e2e_dpop_test.go to check.
//
// Environment: KEYTURN_ISSUER (the server's issuer, which is also where it
// listens), KEYTURN_CLIENT_ID and KEYTURN_CLIENT_SECRET (an API key as a
// client_id / client_secret pair holding read:users), KEYTURN_DPOP_ALG (the
// proof algorithm, default ES256).
//
// oauth4webapi refuses plain-HTTP servers unless told otherwise: the test
// server listens on http://127.0.0.1, so every call passes
// allowInsecureRequests, which only lifts that https check.
import * as oauth from 'oauth4webapi'

const issuer = new URL(process.env.KEYTURN_ISSUER)
const alg = process.env.KEYTURN_DPOP_ALG || 'ES256'
const insecure = { [oauth.allowInsecureRequests]: true }

// withNonceRetry runs f and, when the server asks for a fresh DPoP nonce
// (use_dpop_nonce), once more: the DPoP handle has kept the nonce.
async function withNonceRetry(f, out, name) {
  try {
    return await f()
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err
    out[name] = (out[name] || 0) + 1
    return await f()
  }
}

const out = {}
const as = await oauth.processDiscoveryResponse(
  issuer,
  await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }),
)
out.dpop_signing_alg_values_supported = as.dpop_signing_alg_values_supported

const client = { client_id: process.env.KEYTURN_CLIENT_ID }
const clientAuth = oauth.ClientSecretBasic(process.env.KEYTURN_CLIENT_SECRET)
const keyPair = await oauth.generateKeyPair(alg)
const DPoP = oauth.DPoP(client, keyPair)
out.jkt = await DPoP.calculateThumbprint()

const token = await withNonceRetry(async () => {
  const res = await oauth.clientCredentialsGrantRequest(as, client, clientAuth,
    new URLSearchParams({ scope: 'read:users' }), { DPoP, ...insecure })
  return oauth.processClientCredentialsResponse(as, client, res)
}, out, 'token_nonce_retries')
out.token_type = token.token_type
out.access_token = token.access_token

const staffURL = new URL('/v1/staff', issuer)
for (let i = 0; i < 2; i++) { // the second request with a new proof, same token
  const res = await withNonceRetry(
    () => oauth.protectedResourceRequest(token.access_token, 'GET', staffURL, new Headers(), null, { DPoP, ...insecure }),
    out, 'resource_nonce_retries')
  out[`staff_status_${i}`] = res.status
  out[`staff_${i}`] = await res.json()
}

// The bound token without its proof, as a bearer token: refused.
const bearer = await fetch(staffURL, { headers: { Authorization: `Bearer ${token.access_token}` } })
out.bearer_status = bearer.status
out.bearer_challenge = bearer.headers.get('www-authenticate')

console.log(JSON.stringify(out))
