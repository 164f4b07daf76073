// Small status pill.
import * as React from 'react';
import { cva, type VariantProps } from 'class-variance-authority';
import { cn } from '@/lib/utils';

const badgeVariants = cva('inline-flex items-center gap-1 rounded-full border px-2 py-0.5 text-xs font-medium', {
  variants: {
    variant: {
      default: 'border-transparent bg-primary/15 text-primary',
      secondary: 'border-transparent bg-secondary text-secondary-foreground',
      success: 'border-transparent bg-success/15 text-green-800 dark:text-green-200',
      warning: 'border-transparent bg-warning/15 text-amber-800 dark:text-amber-200',
      destructive: 'border-transparent bg-destructive/15 text-red-800 dark:bg-destructive/25 dark:text-red-200',
      outline: 'text-foreground',
    },
  },
  defaultVariants: { variant: 'default' },
});

export interface BadgeProps extends React.HTMLAttributes<HTMLSpanElement>, VariantProps<typeof badgeVariants> {}

export function Badge({ className, variant, ...props }: BadgeProps) {
  return <span className={cn(badgeVariants({ variant }), className)} {...props} />;
}

export function StatusBadge({ status }: { status: string }) {
  const online = status === 'online';
  return (
    <Badge variant={online ? 'success' : 'secondary'}>
      <span aria-hidden className={cn('size-1.5 rounded-full', online ? 'bg-success' : 'bg-muted-foreground')} />
      {online ? 'online' : 'offline'}
    </Badge>
  );
}

export function SeverityBadge({ severity }: { severity: string }) {
  const v = severity === 'critical' ? 'destructive' : severity === 'warning' ? 'warning' : 'default';
  return <Badge variant={v}>{severity}</Badge>;
}
