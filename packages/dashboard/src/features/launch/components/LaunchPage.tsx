import { useMemo, useState, type FormEvent, type ReactNode } from 'react';
import { forecast, type FieldError } from '@tether/machine';
import { CopyButton } from '../../../components/CopyButton.tsx';
import { ForecastTable } from '../../../components/ForecastTable.tsx';
import { ApiError } from '../../../lib/http.ts';
import { navigate, useLocation } from '../../../lib/router.tsx';
import { useNow } from '../../../lib/useNow.ts';
import { createRun } from '../api/createRun.ts';
import { buildConfig, errorsByControl, FIELD_PATHS, fromServer, valuesFromPreset, type LaunchValues } from '../hooks/launchForm.ts';
import { PRESETS, presetById } from '../hooks/presets.ts';
import '../launch.css';
import { ErrorSummary } from './ErrorSummary.tsx';

function Field({
  id,
  label,
  hint,
  errors,
  children,
}: {
  id: string;
  label: string;
  hint?: string;
  errors?: readonly string[] | undefined;
  children: ReactNode;
}) {
  return (
    <div className={`field${errors?.length ? ' field-invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {children}
      {hint ? (
        <p className="field-hint" id={`${id}-hint`}>
          {hint}
        </p>
      ) : null}
      {errors?.length ? (
        <p className="field-error" id={`${id}-error`} data-field={FIELD_PATHS[id.replace(/^launch-/, '') as keyof LaunchValues]}>
          {errors.map((e) => (
            <span key={e} className="field-error-line">
              {e}
            </span>
          ))}
        </p>
      ) : null}
    </div>
  );
}

export function LaunchPage() {
  const { searchParams } = useLocation();
  const origin = window.location.origin;
  const initialPreset = presetById(searchParams.get('preset')) ?? PRESETS[0]!;
  const [presetId, setPresetId] = useState(initialPreset.id);
  const [values, setValues] = useState<LaunchValues>(() => valuesFromPreset(initialPreset, origin));
  const [touched, setTouched] = useState<Set<keyof LaunchValues>>(() => new Set());
  const [submitted, setSubmitted] = useState(false);
  const [serverErrors, setServerErrors] = useState<FieldError[]>([]);
  const [formError, setFormError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const now = useNow(1000);

  const built = useMemo(() => buildConfig(values), [values]);
  const clientErrors = errorsByControl(built.errors);
  const server = errorsByControl(serverErrors);
  // Every error at once after a launch was tried; before that, only those of the controls already edited. The
  // server's verdict on a control replaces the form's own until that control is edited.
  const errorFor = (key: keyof LaunchValues): string[] | undefined =>
    server.byControl[key] ?? (submitted || touched.has(key) ? clientErrors.byControl[key] : undefined);

  const set = <K extends keyof LaunchValues>(key: K, value: LaunchValues[K]) => {
    setValues((v) => ({ ...v, [key]: value }));
    setTouched((t) => new Set(t).add(key));
    setServerErrors((errs) => errs.filter((e) => !e.field.startsWith(FIELD_PATHS[key])));
  };

  const control = (key: keyof LaunchValues) => {
    const id = `launch-${key}`;
    const errors = errorFor(key);
    return {
      id,
      name: key,
      value: values[key],
      'aria-invalid': errors?.length ? true : undefined,
      'aria-describedby': [errors?.length ? `${id}-error` : null, `${id}-hint`].filter(Boolean).join(' '),
      onChange: (e: { target: { value: string } }) => set(key, e.target.value as LaunchValues[typeof key]),
    };
  };

  const applyPreset = (id: string) => {
    const p = presetById(id);
    if (!p) return;
    setPresetId(id);
    setValues((v) => valuesFromPreset(p, origin, v));
    setServerErrors([]);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSubmitted(true);
    setFormError(null);
    if (!built.config) return;
    setServerErrors([]);
    setSending(true);
    try {
      const run = await createRun(built.config);
      navigate(`/runs/${run.id}`);
    } catch (err) {
      // Every field the server refused, each shown by its control at once (or in the notice, for one the form has no
      // control for); an error about a rule rather than a field is shown as it is.
      if (err instanceof ApiError && err.fields.length) setServerErrors(fromServer(err.fields));
      else setFormError(err instanceof Error ? err.message : String(err));
    } finally {
      setSending(false);
    }
  };

  const preview = built.config ? forecast(built.config, { startAt: now }) : null;
  const maxAttempts = built.config ? 1 + built.config.retryLimit : 0;
  const curl = built.config
    ? `curl -sS -X POST '${origin}/api/runs' \\\n  -H 'content-type: application/json' \\\n  -d '${JSON.stringify(built.config).replace(/'/g, "'\\''")}'`
    : '';

  return (
    <section className="page" aria-labelledby="launch-title">
      <header className="page-header">
        <div>
          <h1 id="launch-title">Launch a run</h1>
          <p className="muted">
            Tether triggers the target, waits for its callback, times out and retries. The built-in simulator plays the external system.
          </p>
        </div>
      </header>

      <form className="launch" onSubmit={submit} noValidate aria-label="Run configuration">
        <div className="launch-main">
          <fieldset className="card">
            <legend>Simulator preset</legend>
            <div className="presets" role="radiogroup" aria-label="Simulator presets">
              {PRESETS.map((p) => (
                <label key={p.id} className={`preset${presetId === p.id ? ' preset-active' : ''}`}>
                  <input type="radio" name="preset" value={p.id} checked={presetId === p.id} onChange={() => applyPreset(p.id)} />
                  <span className="preset-label">{p.label}</span>
                  <span className="preset-desc">{p.description}</span>
                </label>
              ))}
            </div>
          </fieldset>

          <fieldset className="card">
            <legend>Target</legend>
            <Field id="launch-name" label="Name" hint="Shown in the list and used by its filter." errors={errorFor('name')}>
              <input type="text" {...control('name')} />
            </Field>
            <div className="field-row">
              <Field id="launch-method" label="Method" errors={errorFor('method')}>
                <select {...control('method')}>
                  <option value="POST">POST</option>
                  <option value="PUT">PUT</option>
                </select>
              </Field>
              <Field
                id="launch-url"
                label="Target URL"
                hint="Where each attempt's trigger request goes. Defaults to the built-in simulator."
                errors={errorFor('url')}
              >
                <input type="url" className="mono" {...control('url')} />
              </Field>
            </div>
            <Field
              id="launch-headers"
              label="Headers (JSON object, optional)"
              hint='e.g. {"Authorization": "Bearer …"}. Values are never shown back.'
              errors={errorFor('headers')}
            >
              <textarea rows={2} className="mono" spellCheck={false} {...control('headers')} />
            </Field>
            <Field
              id="launch-payload"
              label="Payload (JSON)"
              hint="Sent to the external system in the trigger body. payload.simulate drives the simulator."
              errors={errorFor('payload')}
            >
              <textarea rows={10} className="mono" spellCheck={false} {...control('payload')} />
            </Field>
          </fieldset>

          <fieldset className="card">
            <legend>Timing and retries</legend>
            <div className="field-grid">
              <Field
                id="launch-timeoutSeconds"
                label="Timeout per attempt (s)"
                hint="How long each attempt waits for its callback."
                errors={errorFor('timeoutSeconds')}
              >
                <input type="number" inputMode="decimal" min="0" step="any" {...control('timeoutSeconds')} />
              </Field>
              <Field
                id="launch-retryLimit"
                label="Retry limit"
                hint="Retries after the first attempt (0 = one attempt)."
                errors={errorFor('retryLimit')}
              >
                <input type="number" inputMode="numeric" min="0" step="1" {...control('retryLimit')} />
              </Field>
              <Field
                id="launch-heartbeatTimeoutSeconds"
                label="Heartbeat timeout (s)"
                hint="Optional: time out an attempt that stops sending heartbeats."
                errors={errorFor('heartbeatTimeoutSeconds')}
              >
                <input type="number" inputMode="decimal" min="0" step="any" {...control('heartbeatTimeoutSeconds')} />
              </Field>
              <Field
                id="launch-deadlineSeconds"
                label="Run deadline (s)"
                hint="Optional overall budget from start."
                errors={errorFor('deadlineSeconds')}
              >
                <input type="number" inputMode="decimal" min="0" step="any" {...control('deadlineSeconds')} />
              </Field>
              <Field
                id="launch-triggerTimeoutSeconds"
                label="Trigger timeout (s)"
                hint="How long the trigger request may take. Default 30."
                errors={errorFor('triggerTimeoutSeconds')}
              >
                <input type="number" inputMode="decimal" min="0" step="any" {...control('triggerTimeoutSeconds')} />
              </Field>
            </div>
          </fieldset>

          <fieldset className="card">
            <legend>Backoff between attempts</legend>
            <div className="field-grid">
              <Field
                id="launch-initialSeconds"
                label="Initial delay (s)"
                hint="Before the first retry. Default 1."
                errors={errorFor('initialSeconds')}
              >
                <input type="number" inputMode="decimal" min="0" step="any" {...control('initialSeconds')} />
              </Field>
              <Field id="launch-multiplier" label="Multiplier" hint="Applied after each retry. Default 2." errors={errorFor('multiplier')}>
                <input type="number" inputMode="decimal" min="1" step="any" {...control('multiplier')} />
              </Field>
              <Field id="launch-maxSeconds" label="Max delay (s)" hint="Ceiling of one delay. Default 300." errors={errorFor('maxSeconds')}>
                <input type="number" inputMode="decimal" min="0" step="any" {...control('maxSeconds')} />
              </Field>
              <Field id="launch-jitter" label="Jitter" hint="Deterministic per run and attempt." errors={errorFor('jitter')}>
                <select {...control('jitter')}>
                  <option value="none">none</option>
                  <option value="full">full</option>
                  <option value="equal">equal</option>
                </select>
              </Field>
            </div>
          </fieldset>
        </div>

        <aside className="launch-side" aria-label="Retry forecast and launch">
          <div className="card sticky">
            <h2>Retry forecast</h2>
            {preview ? (
              <>
                <p className="muted small">
                  The worst case, from the same backoff function the engine uses: each attempt waits its whole timeout.
                  {values.jitter !== 'none' ? ' Jitter differs per run; shown for a sample run.' : ''}
                </p>
                <ForecastTable forecast={preview} maxAttempts={maxAttempts} origin={now} now={now} caption="Forecast if launched now" />
              </>
            ) : (
              <p className="muted">Fix the highlighted fields to see when each attempt would time out and when the run would give up.</p>
            )}
            {formError ? (
              <div className="error-notice" role="alert">
                <p className="error-title">The server refused this run</p>
                <p>{formError}</p>
              </div>
            ) : null}
            {serverErrors.length ? <ErrorSummary errors={server} from="server" id="launch-server-errors" /> : null}
            {submitted ? <ErrorSummary errors={clientErrors} from="form" id="launch-form-errors" /> : null}
            <button type="submit" className="btn btn-primary btn-block" disabled={sending}>
              {sending ? 'Launching…' : 'Launch run'}
            </button>
            {curl ? (
              <details className="curl">
                <summary>Same request with curl</summary>
                <pre className="mono small">{curl}</pre>
                <CopyButton text={curl} label="Copy launch curl command" />
              </details>
            ) : null}
          </div>
        </aside>
      </form>
    </section>
  );
}
