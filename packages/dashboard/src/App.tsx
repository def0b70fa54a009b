import { TokenSettings } from './components/TokenSettings.tsx';
import { EmptyState } from './components/States.tsx';
import { LaunchPage } from './features/launch/index.ts';
import { RunPage } from './features/run-detail/index.ts';
import { RunsPage } from './features/runs/index.ts';
import { Link, matchPath, useLocation } from './lib/router.tsx';

function Routes() {
  const { pathname } = useLocation();
  if (pathname === '/' || pathname === '/runs') return <RunsPage />;
  if (pathname === '/runs/new') return <LaunchPage />;
  const run = matchPath('/runs/:id', pathname);
  // Keyed by id: a different run gets a fresh page, with its own queries and its own watch on the shared stream.
  if (run) return <RunPage key={run.id} id={run.id!} />;
  return (
    <div className="page">
      <EmptyState title="Page not found">
        <p>
          Nothing lives at <span className="mono">{pathname}</span>. Go to <Link to="/">the runs list</Link>.
        </p>
      </EmptyState>
    </div>
  );
}

export function App() {
  const { pathname } = useLocation();
  const current = (to: string) => (to === '/' ? pathname === '/' || (pathname.startsWith('/runs/') && pathname !== '/runs/new') : pathname === to);
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <Link to="/" className="brand" aria-label="Tether home">
          <span className="brand-mark" aria-hidden="true" />
          Tether
        </Link>
        <nav aria-label="Main">
          <Link to="/" aria-current={current('/') ? 'page' : undefined}>
            Runs
          </Link>
          <Link to="/runs/new" aria-current={current('/runs/new') ? 'page' : undefined}>
            Launch
          </Link>
        </nav>
        <div className="header-end">
          <a href="/api/docs" className="small">
            API docs
          </a>
          <TokenSettings />
        </div>
      </header>
      <main id="main">
        <Routes />
      </main>
    </>
  );
}
