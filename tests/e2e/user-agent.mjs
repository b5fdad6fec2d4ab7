// A scripted user agent for the authorization-code flow: plain HTTP requests (fetch with manual
// redirects) and a small cookie jar, no browser. It follows redirects from /authorize through
// oidc-provider's development interactions (login form, then consent form), submits them, and
// stops at the first redirect to the client's redirect_uri, whose URL it returns: nothing has to
// listen on the redirect_uri.

const MAX_STEPS = 20;

/** Cookies by name for one origin; enough for oidc-provider's session and interaction cookies. */
export class CookieJar {
  #cookies = new Map();

  /** Stores the Set-Cookie headers of a response; expired or emptied cookies are removed. */
  store(response) {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(';');
      const separator = pair.indexOf('=');
      if (separator < 1) continue;
      const name = pair.slice(0, separator).trim();
      const value = pair.slice(separator + 1).trim();
      const expired = attributes.some((attribute) => {
        const [key, attributeValue = ''] = attribute.split('=').map((part) => part.trim());
        const lowerKey = key.toLowerCase();
        return (lowerKey === 'max-age' && Number(attributeValue) <= 0)
          || (lowerKey === 'expires' && Date.parse(attributeValue) <= Date.now());
      });
      if (expired || value === '') {
        this.#cookies.delete(name);
      } else {
        this.#cookies.set(name, value);
      }
    }
  }

  /** The Cookie request header value, or undefined when the jar is empty. */
  header() {
    if (this.#cookies.size === 0) return undefined;
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

/** One HTTP request that keeps cookies and never follows redirects. */
async function send(jar, url, { method = 'GET', form } = {}) {
  const headers = {};
  const cookie = jar.header();
  if (cookie) headers.cookie = cookie;
  let body;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  }
  const response = await fetch(url, {
    method, headers, body, redirect: 'manual',
  });
  jar.store(response);
  return response;
}

function describeUnexpected(step, url, response, text) {
  const excerpt = text.replace(/\s+/g, ' ').slice(0, 300);
  return new Error(`${step}: unexpected ${response.status} from ${url.pathname}: ${excerpt}`);
}

/** Extracts the prompt name and the form's action from a dev interaction page. */
function parseInteractionPage(html, pageUrl) {
  const prompt = /<input[^>]*name="prompt"[^>]*value="([a-z]+)"/.exec(html)?.[1];
  const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
  if (!prompt || !action) {
    return undefined;
  }
  return { prompt, action: new URL(action.replaceAll('&amp;', '&'), pageUrl) };
}

/**
 * Runs an authorization request from `authorizationUrl` to the redirect back to the client:
 * login as `login`, grant consent. Returns { callbackUrl, trail } where `trail` lists the steps
 * taken ("GET /authorize 303", ...). Throws when the provider answers anything unexpected.
 */
export async function authorizeInteractively(authorizationUrl, redirectUri, { login }) {
  const jar = new CookieJar();
  const trail = [];
  let url = new URL(authorizationUrl);
  let response = await send(jar, url);
  for (let step = 0; step < MAX_STEPS; step += 1) {
    trail.push(`${response.status} ${url.pathname}`);
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel();
      const location = new URL(response.headers.get('location'), url);
      if (location.href.startsWith(redirectUri)) {
        return { callbackUrl: location, trail };
      }
      url = location;
      response = await send(jar, url);
      continue;
    }
    const text = await response.text();
    const page = response.status === 200 ? parseInteractionPage(text, url) : undefined;
    if (!page) {
      throw describeUnexpected('authorization', url, response, text);
    }
    const form = page.prompt === 'login'
      ? { prompt: 'login', login, password: 'any-password' }
      : { prompt: page.prompt };
    url = page.action;
    response = await send(jar, url, { method: 'POST', form });
    trail.push(`POST ${page.prompt}`);
  }
  throw new Error(`authorization: no redirect to the client after ${MAX_STEPS} steps: ${trail}`);
}
