export { LaunchPage } from './components/LaunchPage.tsx';
