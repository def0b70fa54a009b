// First: the app-wide styles are the base the features' own CSS (imported by their pages) builds on.
import './styles.css';
import { QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { createQueryClient } from './lib/queryClient.ts';
import { StreamProvider } from './lib/stream/StreamProvider.tsx';

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
// One cache and one socket for the whole app: pages come and go, both stay (a page revisited shows at once).
const queryClient = createQueryClient();
createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <StreamProvider>
        <App />
      </StreamProvider>
    </QueryClientProvider>
  </StrictMode>,
);
