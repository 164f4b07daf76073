// Applies the saved theme before first paint (no flash of the wrong theme). Kept out of
// index.html so a strict Content-Security-Policy (script-src 'self') still allows it.
try {
  var t = localStorage.getItem('iotad.theme');
  if (t === 'dark' || (!t && matchMedia('(prefers-color-scheme: dark)').matches))
    document.documentElement.classList.add('dark');
} catch (e) {}
