export { RunsPage } from './components/RunsPage.tsx';
