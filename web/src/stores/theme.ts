// Light/dark theme: persisted in localStorage, applied as the `dark` class on <html>.
import { create } from 'zustand';

export type Theme = 'light' | 'dark';

function initial(): Theme {
  if (typeof document !== 'undefined' && document.documentElement.classList.contains('dark')) return 'dark';
  return 'light';
}

interface ThemeState {
  theme: Theme;
  toggle: () => void;
  set: (t: Theme) => void;
}

export const useTheme = create<ThemeState>((set, get) => ({
  theme: initial(),
  toggle: () => get().set(get().theme === 'dark' ? 'light' : 'dark'),
  set: (theme) => {
    if (typeof document !== 'undefined') document.documentElement.classList.toggle('dark', theme === 'dark');
    try {
      localStorage.setItem('iotad.theme', theme);
    } catch {
      /* private mode */
    }
    set({ theme });
  },
}));
