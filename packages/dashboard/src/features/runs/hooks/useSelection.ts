import { useState } from 'react';

export interface Selection {
  /** Ids ticked, on this page or on others of the same filter. */
  ids: ReadonlySet<string>;
  /** Every run matching the filter, not only those ticked (the bulk action then names the filter). */
  allMatching: boolean;
  isSelected: (id: string) => boolean;
  toggle: (id: string, on: boolean) => void;
  /** Ticks or clears every id given (the header checkbox, for the page). */
  setMany: (ids: readonly string[], on: boolean) => void;
  selectAllMatching: () => void;
  clear: () => void;
}

interface Held {
  key: string;
  ids: ReadonlySet<string>;
  allMatching: boolean;
}

/**
 * The runs ticked for a bulk action. A selection belongs to one filter (`key`): under another filter it is empty
 * again, so an action never reaches runs no longer on screen. Paging and re-ordering keep it.
 */
export function useSelection(key: string): Selection {
  const [held, setHeld] = useState<Held>({ key, ids: new Set(), allMatching: false });
  const current: Held = held.key === key ? held : { key, ids: new Set(), allMatching: false };

  const setMany = (ids: readonly string[], on: boolean) => {
    const next = new Set(current.ids);
    for (const id of ids) {
      if (on) next.add(id);
      else next.delete(id);
    }
    // Unticking one run is no longer "all matching".
    setHeld({ key, ids: next, allMatching: on && current.allMatching });
  };
  return {
    ids: current.ids,
    allMatching: current.allMatching,
    isSelected: (id) => current.allMatching || current.ids.has(id),
    toggle: (id, on) => setMany([id], on),
    setMany,
    selectAllMatching: () => setHeld({ key, ids: current.ids, allMatching: true }),
    clear: () => setHeld({ key, ids: new Set(), allMatching: false }),
  };
}
