import { describe, expect, it } from 'vitest';
import type { AlertChannel, AlertPolicy, AlertSettings } from '@/api/types';
import {
  channelToForm, contactError, endpointKind, fmtMs, formToChannel, formToPolicy, policyRecipients, policyScope, policyToForm, settingsPatch, splitList,
} from '@/features/alerts/forms';

const channel = (over: Partial<AlertChannel> = {}): AlertChannel => ({
  id: 'c1', name: 'mail', kind: 'email', url: 'smtp://mail:587', config: { from: 'a@x', starttls: 'require' }, enabled: true,
  rate_per_min: 30, has_secret: true, created_at: 1, updated_at: 1, ...over,
});

const policy = (over: Partial<AlertPolicy> = {}): AlertPolicy => ({
  id: 'p1', name: 'ops', enabled: true, channel_id: 'c1', severities: ['critical'], device_id: null, device_type: 'boiler',
  users: ['u1'], roles: ['analyst'], device_owner: true, addresses: ['a@x', 'b@x'], group_wait_ms: 5000, group_window_ms: 120000,
  escalate_after_ms: 900000, escalate_users: [], escalate_roles: ['admin'], escalate_addresses: ['boss@x'], created_at: 1, updated_at: 1,
  ...over,
});

describe('channel form', () => {
  it('keeps the stored secret unless a new one is typed, and sends the kind only on create', () => {
    const f = channelToForm(channel());
    expect(f).toMatchObject({ kind: 'email', from: 'a@x', starttls: 'require', secret: '', rate_per_min: '30' });
    const body = formToChannel(f, false);
    expect(body).not.toHaveProperty('secret');
    expect(body).not.toHaveProperty('kind');
    expect(body).toEqual({ name: 'mail', url: 'smtp://mail:587', config: { from: 'a@x', starttls: 'require' }, enabled: true, rate_per_min: 30 });
    expect(formToChannel({ ...f, secret: 'pw' }, true)).toMatchObject({ kind: 'email', secret: 'pw' });
  });
  it('sends only the config fields of the kind', () => {
    const f = { ...channelToForm(), kind: 'webhook' as const, name: ' hook ', url: 'https://h', from: 'stale', body_template: 'x' };
    expect(formToChannel(f, true).config).toEqual({});
    const sms = { ...f, kind: 'sms' as const, from: '+1555', body_template: '{"to":"{to}"}', starttls: 'off' as const };
    expect(formToChannel(sms, true).config).toEqual({ from: '+1555', body_template: '{"to":"{to}"}' });
    expect(formToChannel({ ...f, rate_per_min: '-3' }, true).rate_per_min).toBe(60);
  });
  it('round-trips a syslog channel: facility, hostname, framing and CA; one endpoint', () => {
    const c = channel({ kind: 'syslog', url: 'tls://siem:6514', has_secret: false,
      config: { facility: 'local3', hostname: 'gw-1', framing: 'newline', ca_pem: '-----BEGIN CERTIFICATE-----' } });
    const f = channelToForm(c);
    expect(f).toMatchObject({ kind: 'syslog', facility: 'local3', hostname: 'gw-1', framing: 'newline' });
    expect(formToChannel({ ...f, from: 'stale', hostname: ' ' }, true).config).toEqual({
      facility: 'local3', framing: 'newline', ca_pem: '-----BEGIN CERTIFICATE-----' });
    expect(channelToForm(channel({ kind: 'syslog', config: { facility: 4 as unknown as string } })).facility).toBe('4');
    expect(endpointKind('syslog') && endpointKind('webhook') && !endpointKind('email')).toBe(true);
    expect(policyRecipients(policy(), 'syslog')).toBe('the syslog receiver');
  });
});

describe('policy form', () => {
  it('round-trips a policy in human units', () => {
    const f = policyToForm(policy());
    expect(f).toMatchObject({ scope: 'type', group_wait_s: '5', group_window_s: '120', escalate_after_min: '15', addresses: 'a@x, b@x' });
    const p = policy();
    const { id: _id, created_at: _c, updated_at: _u, ...rest } = p;
    expect(formToPolicy(f)).toEqual(rest);
  });
  it('clears the device or type that the scope does not use, and escalation when off', () => {
    const f = { ...policyToForm(policy()), scope: 'all' as const, escalate_after_min: '0', severities: ['info', 'critical'] as AlertPolicy['severities'] };
    const b = formToPolicy(f);
    expect(b).toMatchObject({ device_id: null, device_type: null, escalate_after_ms: 0, escalate_roles: [], escalate_addresses: [] });
    expect(b.severities).toEqual(['critical', 'info']);
    expect(formToPolicy({ ...f, scope: 'device', device_id: 'd9' }).device_id).toBe('d9');
  });
  it('summarizes scope and recipients', () => {
    expect(policyScope(policy(), () => 'never asked')).toBe('critical from type boiler');
    expect(policyScope(policy({ device_id: 'd1', device_type: null }), () => 'boiler-1')).toBe('critical from boiler-1');
    expect(policyRecipients(policy(), 'email')).toBe("every Analyst; 1 user; the device's owner; 2 addresses");
    expect(policyRecipients(policy(), 'webhook')).toBe('the webhook endpoint');
    expect(policyRecipients(policy({ roles: [], users: [], device_owner: false, addresses: [] }), 'sms')).toBe('nobody yet');
    expect(fmtMs(60000)).toBe('1 min');
    expect(fmtMs(7_200_000)).toBe('2 h');
    expect(fmtMs(1500)).toBe('1500 ms');
  });
  it('splits address lists on commas, semicolons and new lines', () => {
    expect(splitList(' a@x, b@x;\nc@x ,, a@x ')).toEqual(['a@x', 'b@x', 'c@x']);
  });
});

describe('delivery settings and contacts', () => {
  const orig: AlertSettings = {
    public_url: '', allow_nets: '', allow_private: false, auto_incident: 'critical', flap_window_ms: 600000, flap_threshold: 4,
    retry_base_ms: 2000, retry_max_ms: 600000, max_attempts: 10, timeout_ms: 10000,
  };
  it('sends only changed settings, numbers as numbers', () => {
    const { allow_private: _, ...form } = orig;
    expect(settingsPatch(orig, form)).toEqual({});
    const edited = { ...form, max_attempts: '5' as unknown as number, allow_nets: ' 10.0.0.0/8 ', auto_incident: 'off' as const };
    expect(settingsPatch(orig, edited)).toEqual({ max_attempts: 5, allow_nets: '10.0.0.0/8', auto_incident: 'off' });
  });
  it('checks contact addresses like the server', () => {
    expect(contactError({ kind: 'email', address: 'me@example.com' })).toBeNull();
    expect(contactError({ kind: 'email', address: '+15551234567' })).toBe('Not an e-mail address');
    expect(contactError({ kind: 'email', address: 'a@b@c' })).toBe('Not an e-mail address');
    expect(contactError({ kind: 'email', address: 'a b@c' })).toBe('Not an e-mail address');
    expect(contactError({ kind: 'sms', address: '+15551234567' })).toBeNull();
    expect(contactError({ kind: 'sms', address: '5551234567' })).toMatch(/international/);
    expect(contactError({ kind: 'sms', address: '+12' })).toMatch(/international/);
    expect(contactError({ kind: 'sms', address: ' ' })).toBe('Enter an address');
  });
});
