import { useEffect, useRef, type KeyboardEvent, type ReactNode } from 'react';

const FOCUSABLE =
  'a[href], button:not(:disabled), input:not(:disabled), select:not(:disabled), textarea:not(:disabled), [tabindex]:not([tabindex="-1"])';

export interface ModalProps {
  /** Id of the element that names the dialog (its heading). */
  labelledBy: string;
  /** Escape and the backdrop close it; not while `closable` is false (a request under way). */
  onClose: () => void;
  closable?: boolean;
  /** Where focus goes on close when the element that had it is gone or disabled (the action spent the selection). */
  fallbackFocus?: () => HTMLElement | null;
  children: ReactNode;
}

/**
 * A modal dialog: role=dialog with aria-modal, focus moved into it on open and given back to whatever had it on
 * close, Tab kept inside, Escape to close. (A native <dialog> would do the same; jsdom, where the unit tests run,
 * does not implement showModal.)
 */
export function Modal({ labelledBy, onClose, closable = true, fallbackFocus, children }: ModalProps) {
  const box = useRef<HTMLDivElement>(null);
  const fallback = useRef(fallbackFocus);
  useEffect(() => {
    fallback.current = fallbackFocus;
  });
  useEffect(() => {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    box.current?.focus();
    return () => {
      const usable = opener?.isConnected && !opener.matches(':disabled');
      (usable ? opener : fallback.current?.())?.focus();
    };
  }, []);

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (e.key === 'Escape' && closable) {
      e.stopPropagation();
      onClose();
    } else if (e.key === 'Tab' && box.current) {
      const items = [...box.current.querySelectorAll<HTMLElement>(FOCUSABLE)];
      const first = items[0];
      const last = items[items.length - 1];
      if (!first || !last) return e.preventDefault();
      if (e.shiftKey && (document.activeElement === first || document.activeElement === box.current)) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && document.activeElement === last) {
        e.preventDefault();
        first.focus();
      }
    }
  };

  return (
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && closable && onClose()}>
      <div ref={box} className="modal" role="dialog" aria-modal="true" aria-labelledby={labelledBy} tabIndex={-1} onKeyDown={onKeyDown}>
        {children}
      </div>
    </div>
  );
}
