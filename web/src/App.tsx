// The console's shell: where a person goes by the stage of their session (sign-in, second factor,
// enrolment, or the console itself), the navigation, and the routes under /console/app/.
import { type ReactNode, lazy, Suspense, useEffect } from 'react';
import { Link, Redirect, Route, Router, Switch, useLocation } from 'wouter';
import { api } from './api.ts';
import { Account } from './pages/Account.tsx';
import { Audit } from './pages/Audit.tsx';
import { Compose } from './pages/Compose.tsx';
import { Enrol } from './pages/Enrol.tsx';
import { Home } from './pages/Home.tsx';
import { MessagePage } from './pages/Message.tsx';
import { Messages } from './pages/Messages.tsx';
import { Sandbox } from './pages/Sandbox.tsx';
import { SignIn } from './pages/SignIn.tsx';
import { Verify } from './pages/Verify.tsx';
import { ReauthProvider } from './reauth.tsx';
import { SessionProvider, useSession } from './session.tsx';
import { Status } from './ui.tsx';

export const BASE = '/console/app';
// Charts (uPlot) load only when the dashboard is opened: they stay out of the first load.
const Dashboard = lazy(() => import('./pages/Dashboard.tsx'));
// Settings are many forms most people seldom open: their own chunk too.
const Settings = lazy(() => import('./pages/Settings.tsx'));

const NAV: { href: string; label: string; permission?: string }[] = [
  { href: '/', label: 'Home' },
  { href: '/messages', label: 'Messages', permission: 'messages:read' },
  { href: '/compose', label: 'Compose', permission: 'messages:send' },
  { href: '/dashboard', label: 'Dashboard', permission: 'reports:read' },
  { href: '/audit', label: 'Audit', permission: 'audit:read' },
  { href: '/settings', label: 'Settings' },
  { href: '/account', label: 'Account' },
];

function Shell({ children }: { children: ReactNode }) {
  const { session, can, signedOut } = useSession();
  const [location] = useLocation();
  async function signOut() {
    await api('POST', '/v1/auth/sign-out');
    signedOut('You signed out.');
  }
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Sealpost</span>
        <nav aria-label="Console">
          <ul>
            {NAV.filter((item) => !item.permission || can(item.permission)).map((item) => {
              const current = item.href === '/' ? location === '/' : location.startsWith(item.href);
              return (
                <li key={item.href}>
                  <Link href={item.href} aria-current={current ? 'page' : undefined}>
                    {item.label}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <span className="who">{session?.user.email}</span>
        <button type="button" className="secondary" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <main id="main">{children}</main>
    </>
  );
}

function Routes() {
  const { session } = useSession();
  const [location] = useLocation();
  useEffect(() => {
    // No return value: Chromium's scrollTo now answers a promise, which React would take for a cleanup.
    window.scrollTo(0, 0);
  }, [location]);

  if (session === undefined)
    return (
      <main id="main">
        <Status>Loading…</Status>
      </main>
    );
  if (session === null)
    return location === '/sign-in' ? (
      <main id="main">
        <SignIn />
      </main>
    ) : (
      <Redirect to="/sign-in" />
    );
  if (session.stage === 'second_factor')
    return location === '/verify' ? (
      <main id="main">
        <Verify />
      </main>
    ) : (
      <Redirect to="/verify" />
    );
  if (session.stage === 'enrol')
    return location === '/enrol' ? (
      <main id="main">
        <Enrol required />
      </main>
    ) : (
      <Redirect to="/enrol" />
    );
  return (
    <Shell>
      <Switch>
        <Route path="/" component={Home} />
        <Route path="/messages" component={Messages} />
        <Route path="/messages/:id">{(params) => <MessagePage id={params.id} />}</Route>
        <Route path="/compose" component={Compose} />
        <Route path="/sandbox">
          <Sandbox />
        </Route>
        <Route path="/sandbox/:id">{(params) => <Sandbox messageId={params.id} />}</Route>
        <Route path="/dashboard">
          <Suspense fallback={<Status>Loading charts…</Status>}>
            <Dashboard />
          </Suspense>
        </Route>
        <Route path="/audit" component={Audit} />
        <Route path="/settings" nest>
          <Suspense fallback={<Status>Loading settings…</Status>}>
            <Settings />
          </Suspense>
        </Route>
        <Route path="/account" component={Account} />
        <Route path="/enrol">
          <Enrol required={false} />
        </Route>
        <Route path="/sign-in">
          <Redirect to="/" />
        </Route>
        <Route path="/verify">
          <Redirect to="/" />
        </Route>
        <Route>
          <h1>Not found</h1>
          <p>
            There is no console page here. <Link href="/">Go to the first page</Link>.
          </p>
        </Route>
      </Switch>
    </Shell>
  );
}

export function App() {
  return (
    <Router base={BASE}>
      <SessionProvider>
        <ReauthProvider>
          <Routes />
        </ReauthProvider>
      </SessionProvider>
    </Router>
  );
}
