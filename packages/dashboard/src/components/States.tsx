import type { ReactNode } from 'react';

/** An empty state that says what to do next. */
export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty-state">
      <p className="empty-title">{title}</p>
      {children ? <div className="empty-body">{children}</div> : null}
    </div>
  );
}

/** An error with what the person can do about it. */
export function ErrorNotice({ title, message, action }: { title: string; message: string; action?: ReactNode }) {
  return (
    <div className="error-notice" role="alert">
      <p className="error-title">{title}</p>
      <p>{message}</p>
      {action ? <div>{action}</div> : null}
    </div>
  );
}
