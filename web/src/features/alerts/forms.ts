// Pure conversions between the alert API's shapes and the Alerts page's forms: channels (config
// fields per kind, write-only secret), policies (scope, recipients, grouping and escalation in
// human units), delivery settings (only changed keys are sent) and contact checks that mirror the
// server's, plus one-line summaries for the lists.
import type { AlertChannel, AlertPolicy, AlertSettings, ChannelInput, ChannelKind, Contact, PolicyInput, Role, Severity } from '@/api/types';

export const SEVERITIES: Severity[] = ['critical', 'warning', 'info'];
export const ROLES: { value: Role; label: string }[] = [
  { value: 'admin', label: 'Admins' },
  { value: 'analyst', label: 'Analysts' },
  { value: 'device_owner', label: 'Device owners' },
];
export const KIND_LABEL: Record<ChannelKind, string> = { webhook: 'Webhook', email: 'E-mail (SMTP)', sms: 'SMS gateway', syslog: 'Syslog / CEF (SIEM)' };
export const URL_HINT: Record<ChannelKind, string> = {
  webhook: 'https://hooks.example.com/iotad',
  email: 'smtp://mail.example.com:587 or smtps://mail.example.com:465',
  sms: 'https://api.twilio.com/2010-04-01/Accounts/AC…/Messages.json',
  syslog: 'udp://siem.example.com:514, tcp://…:514 or tls://…:6514',
};
/** Channels with one endpoint (the url) rather than per-user recipients. */
export const endpointKind = (kind: ChannelKind | undefined) => kind === 'webhook' || kind === 'syslog';

/** Comma-, semicolon- or newline-separated list -> trimmed, non-empty, unique entries. */
export function splitList(s: string): string[] {
  return [...new Set(s.split(/[,;\n]/).map((x) => x.trim()).filter(Boolean))];
}

// ---- channels --------------------------------------------------------------------------------

export interface ChannelForm {
  name: string;
  kind: ChannelKind;
  url: string;
  /** '' = keep the stored secret (edit) / none (create) */
  secret: string;
  rate_per_min: string;
  enabled: boolean;
  from: string;
  username: string;
  starttls: '' | 'try' | 'require' | 'off';
  body_template: string;
  content_type: string;
  facility: string;
  hostname: string;
  framing: '' | 'octet-counting' | 'newline';
  ca_pem: string;
}

export function channelToForm(c?: AlertChannel): ChannelForm {
  const cfg = c?.config ?? {};
  return {
    name: c?.name ?? '',
    kind: c?.kind ?? 'webhook',
    url: c?.url ?? '',
    secret: '',
    rate_per_min: String(c?.rate_per_min ?? 60),
    enabled: c?.enabled ?? true,
    from: cfg.from ?? '',
    username: cfg.username ?? '',
    starttls: (cfg.starttls as ChannelForm['starttls']) ?? '',
    body_template: cfg.body_template ?? '',
    content_type: cfg.content_type ?? '',
    facility: cfg.facility !== undefined ? String(cfg.facility) : '',
    hostname: cfg.hostname ?? '',
    framing: (cfg.framing as ChannelForm['framing']) ?? '',
    ca_pem: cfg.ca_pem ?? '',
  };
}

const CONFIG_KEYS: Record<ChannelKind, (keyof ChannelForm)[]> = {
  webhook: [],
  email: ['from', 'username', 'starttls'],
  sms: ['from', 'username', 'body_template', 'content_type'],
  syslog: ['facility', 'hostname', 'framing', 'ca_pem'],
};

/** The request body: config holds only the kind's non-empty fields; the kind is sent on create
 * only (it cannot change); the secret only when typed. */
export function formToChannel(f: ChannelForm, creating: boolean): ChannelInput {
  const config: Record<string, string> = {};
  for (const k of CONFIG_KEYS[f.kind]) {
    const v = String(f[k]).trim();
    if (v) config[k] = v;
  }
  const rate = Number(f.rate_per_min);
  const out: ChannelInput = {
    name: f.name.trim(),
    url: f.url.trim(),
    config,
    enabled: f.enabled,
    rate_per_min: Number.isFinite(rate) && rate >= 0 ? Math.round(rate) : 60,
  };
  if (creating) out.kind = f.kind;
  if (f.secret) out.secret = f.secret;
  return out;
}

// ---- policies --------------------------------------------------------------------------------

export interface PolicyForm {
  name: string;
  enabled: boolean;
  channel_id: string;
  severities: Severity[];
  scope: 'all' | 'device' | 'type';
  device_id: string;
  device_type: string;
  roles: Role[];
  users: string[];
  device_owner: boolean;
  addresses: string;
  group_wait_s: string;
  group_window_s: string;
  escalate_after_min: string;
  escalate_roles: Role[];
  escalate_users: string[];
  escalate_addresses: string;
}

export function policyToForm(p?: AlertPolicy, defaultChannel = ''): PolicyForm {
  return {
    name: p?.name ?? '',
    enabled: p?.enabled ?? true,
    channel_id: p?.channel_id ?? defaultChannel,
    severities: p?.severities ?? ['critical', 'warning'],
    scope: p?.device_id ? 'device' : p?.device_type ? 'type' : 'all',
    device_id: p?.device_id ?? '',
    device_type: p?.device_type ?? '',
    roles: p?.roles ?? [],
    users: p?.users ?? [],
    device_owner: p?.device_owner ?? false,
    addresses: (p?.addresses ?? []).join(', '),
    group_wait_s: String((p?.group_wait_ms ?? 0) / 1000),
    group_window_s: String((p?.group_window_ms ?? 60000) / 1000),
    escalate_after_min: String((p?.escalate_after_ms ?? 0) / 60000),
    escalate_roles: p?.escalate_roles ?? [],
    escalate_users: p?.escalate_users ?? [],
    escalate_addresses: (p?.escalate_addresses ?? []).join(', '),
  };
}

const ms = (v: string, unit: number) => {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? Math.round(n * unit) : 0;
};

export function formToPolicy(f: PolicyForm): Omit<PolicyInput, never> {
  const escalate = ms(f.escalate_after_min, 60000);
  return {
    name: f.name.trim(),
    enabled: f.enabled,
    channel_id: f.channel_id,
    severities: SEVERITIES.filter((s) => f.severities.includes(s)),
    device_id: f.scope === 'device' && f.device_id ? f.device_id : null,
    device_type: f.scope === 'type' && f.device_type.trim() ? f.device_type.trim() : null,
    roles: f.roles,
    users: f.users,
    device_owner: f.device_owner,
    addresses: splitList(f.addresses),
    group_wait_ms: ms(f.group_wait_s, 1000),
    group_window_ms: ms(f.group_window_s, 1000),
    escalate_after_ms: escalate,
    escalate_roles: escalate ? f.escalate_roles : [],
    escalate_users: escalate ? f.escalate_users : [],
    escalate_addresses: escalate ? splitList(f.escalate_addresses) : [],
  };
}

export function fmtMs(v: number): string {
  if (!v) return '0 s';
  if (v % 3_600_000 === 0) return `${v / 3_600_000} h`;
  if (v % 60_000 === 0) return `${v / 60_000} min`;
  if (v % 1000 === 0) return `${v / 1000} s`;
  return `${v} ms`;
}

/** "critical, warning from all devices" / "… from type boiler" / "… from boiler-1". */
export function policyScope(p: Pick<AlertPolicy, 'severities' | 'device_id' | 'device_type'>, deviceName: (id: string) => string): string {
  const sev = p.severities.length ? p.severities.join(', ') : 'no severities';
  const where = p.device_id ? deviceName(p.device_id) : p.device_type ? `type ${p.device_type}` : 'all devices';
  return `${sev} from ${where}`;
}

/** Who gets it: "roles analyst; 2 users; device owner; 1 address" or "the webhook". */
export function policyRecipients(p: Pick<AlertPolicy, 'roles' | 'users' | 'device_owner' | 'addresses'>, kind: ChannelKind | undefined): string {
  if (kind === 'webhook') return 'the webhook endpoint';
  if (kind === 'syslog') return 'the syslog receiver';
  const parts: string[] = [];
  if (p.roles.length) parts.push(`every ${p.roles.map((r) => ROLES.find((x) => x.value === r)?.label.replace(/s$/, '') ?? r).join(' / ')}`);
  if (p.users.length) parts.push(`${p.users.length} user${p.users.length === 1 ? '' : 's'}`);
  if (p.device_owner) parts.push("the device's owner");
  if (p.addresses.length) parts.push(`${p.addresses.length} address${p.addresses.length === 1 ? '' : 'es'}`);
  return parts.length ? parts.join('; ') : 'nobody yet';
}

// ---- settings --------------------------------------------------------------------------------

export type SettingsForm = Omit<AlertSettings, 'allow_private'>;

/** Only the keys whose value changed (PATCH /alert-settings). */
export function settingsPatch(orig: AlertSettings, f: SettingsForm): Partial<SettingsForm> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(f) as (keyof SettingsForm)[]) {
    const v = typeof orig[k] === 'number' ? Number(f[k]) : String(f[k]).trim();
    if (v !== orig[k]) out[k] = v;
  }
  return out as Partial<SettingsForm>;
}

// ---- contacts --------------------------------------------------------------------------------

/** The server's rules for a contact address; null when fine. */
export function contactError(c: Pick<Contact, 'kind' | 'address'>): string | null {
  const a = c.address.trim();
  if (!a) return 'Enter an address';
  if (a.length > 254) return 'Too long';
  if (c.kind === 'email') {
    const at = a.indexOf('@');
    if (at <= 0 || at === a.length - 1 || a.indexOf('@', at + 1) >= 0 || /[\s<>,]/.test(a)) return 'Not an e-mail address';
    return null;
  }
  if (!/^\+\d{3,15}$/.test(a)) return 'A phone number in international form, e.g. +15551234567';
  return null;
}
