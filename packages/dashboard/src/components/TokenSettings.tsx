import { useState } from 'react';
import { apiToken } from '../lib/http.ts';

/** For servers started with TETHER_API_TOKEN: the token is kept in this browser's localStorage only. */
export function TokenSettings() {
  const [open, setOpen] = useState(false);
  const [value, setValue] = useState(() => apiToken.get() ?? '');
  const saved = apiToken.get();
  return (
    <div className="token-settings">
      <button type="button" className="btn btn-small btn-ghost" aria-expanded={open} onClick={() => setOpen(!open)}>
        API token{saved ? ' ✓' : ''}
      </button>
      {open ? (
        <form
          className="token-form"
          aria-label="API token"
          onSubmit={(e) => {
            e.preventDefault();
            apiToken.set(value.trim() || null);
            window.location.reload();
          }}
        >
          <label htmlFor="api-token">Bearer token (only if the server sets TETHER_API_TOKEN)</label>
          <input id="api-token" type="password" autoComplete="off" value={value} onChange={(e) => setValue(e.target.value)} />
          <div className="row-gap">
            <button type="submit" className="btn btn-primary btn-small">
              Save and reload
            </button>
            {saved ? (
              <button
                type="button"
                className="btn btn-small"
                onClick={() => {
                  apiToken.set(null);
                  window.location.reload();
                }}
              >
                Forget
              </button>
            ) : null}
          </div>
        </form>
      ) : null}
    </div>
  );
}
