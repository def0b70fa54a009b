export { RunPage } from './components/RunPage.tsx';
