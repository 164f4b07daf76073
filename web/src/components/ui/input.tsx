// Text input and native select styled like shadcn's Input.
import * as React from 'react';
import { cn } from '@/lib/utils';

const base =
  'flex h-9 w-full rounded-md border border-input bg-card px-3 py-1 text-sm shadow-sm transition-colors placeholder:text-muted-foreground focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring disabled:cursor-not-allowed disabled:opacity-50';

export const Input = React.forwardRef<HTMLInputElement, React.InputHTMLAttributes<HTMLInputElement>>(
  ({ className, type, ...props }, ref) => <input type={type} className={cn(base, className)} ref={ref} {...props} />,
);
Input.displayName = 'Input';

/** Native <select>: fully keyboard accessible, cheap with long option lists. */
export const NativeSelect = React.forwardRef<HTMLSelectElement, React.SelectHTMLAttributes<HTMLSelectElement>>(
  ({ className, ...props }, ref) => <select className={cn(base, 'pr-8', className)} ref={ref} {...props} />,
);
NativeSelect.displayName = 'NativeSelect';

export const Textarea = React.forwardRef<HTMLTextAreaElement, React.TextareaHTMLAttributes<HTMLTextAreaElement>>(
  ({ className, ...props }, ref) => <textarea className={cn(base, 'h-auto min-h-20 py-2', className)} ref={ref} {...props} />,
);
Textarea.displayName = 'Textarea';
