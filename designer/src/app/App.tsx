import { logout } from '../api/auth';
import { FlowsPage } from '../editor/FlowsPage';
import { EditorPage } from '../editor/EditorPage';
import { AlarmsPage } from '../pages/alarms/AlarmsPage';
import { AlarmRulesPage } from '../pages/alarms/AlarmRulesPage';
import { DashboardPage } from '../pages/dashboard/DashboardPage';
import { HealthPage } from '../pages/health/HealthPage';
import { Login } from './Login';
import { href, useRoute, type Route } from './router';
import { useSession } from './session';

// The navigation: one entry per page. Report export and user
// administration join it with their issues.
const nav: { key: string; label: string }[] = [
  { key: 'flows', label: 'Flows' },
  { key: 'alarm-rules', label: 'Alarm rules' },
  { key: 'alarms', label: 'Alarms' },
  { key: 'dashboard', label: 'Dashboard' },
  { key: 'health', label: 'Health' },
];

function Page({ route }: { route: Route }) {
  const [top = 'flows', id] = route.parts;
  switch (top) {
    case 'flows':
      return id ? <EditorPage key={id} flowId={id} /> : <FlowsPage />;
    case 'alarm-rules':
      return <AlarmRulesPage />;
    case 'alarms':
      return <AlarmsPage route={route} />;
    case 'dashboard':
      return <DashboardPage route={route} />;
    case 'health':
      return <HealthPage />;
    default:
      return (
        <main className="page">
          <h1>Not found</h1>
          <p>There is no page “{route.parts.join('/')}”. <a href={href('flows')}>Go to the flows.</a></p>
        </main>
      );
  }
}

export function App() {
  const loggedIn = useSession((s) => s.loggedIn);
  const setLoggedIn = useSession((s) => s.setLoggedIn);
  const route = useRoute();
  if (!loggedIn) return <Login />;
  const top = route.parts[0] ?? 'flows';
  return (
    <div className="shell">
      <header className="topbar">
        <a className="brand" href={href('flows')}>Sluice</a>
        <nav aria-label="Main">
          {nav.map((n) => (
            <a key={n.key} href={href(n.key)} aria-current={top === n.key ? 'page' : undefined}>{n.label}</a>
          ))}
        </nav>
        <button
          className="link"
          onClick={() => {
            void logout().finally(() => setLoggedIn(false));
          }}
        >
          Log out
        </button>
      </header>
      <Page route={route} />
    </div>
  );
}
