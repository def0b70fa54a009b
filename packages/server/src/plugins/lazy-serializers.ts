/**
 * Response serializers compiled when first needed, instead of all of them before the server listens.
 *
 * Fastify compiles one fast-json-stringify function per route and status code while it starts: ~130 ms of a ~700 ms
 * empty-data-dir start on the 2-core machines (B5's profile), for ~100 serializers most of which (error statuses, the
 * bulk and inspector routes) a session may never use. Here each one compiles on the first response that needs it, and
 * whatever is still uncompiled once the server listens is compiled in the background, one per event-loop turn, so a
 * schema that cannot compile is still reported within moments of a start (logged), not at the first unlucky request.
 */
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';

type Factory = ReturnType<typeof SerializerSelector>;
type Serializer = (doc: unknown) => string;

export class LazySerializers {
  /** The compile functions of serializers not yet compiled. */
  private readonly waiting = new Set<() => Serializer>();

  /** For Fastify's `schemaController.compilersFactory.buildSerializer`: the default compiler, deferred. */
  readonly factory: Factory = (externalSchemas, options) => {
    const compile = SerializerSelector()(externalSchemas, options);
    return (route) => {
      let compiled: Serializer | null = null;
      const force = (): Serializer => {
        this.waiting.delete(force);
        return (compiled ??= compile(route));
      };
      this.waiting.add(force);
      return (doc) => (compiled ?? force())(doc);
    };
  };

  /** Serializers the background pass could not compile. */
  failed = 0;

  /** How many serializers are still uncompiled. */
  get pending(): number {
    return this.waiting.size;
  }

  /**
   * Compiles every serializer still waiting, one per turn of the event loop. A schema that fails to compile is passed
   * to `onError` (with the route's serializer left to fail at its first use, as Fastify's own would have failed at start).
   */
  async warm(onError: (e: unknown) => void): Promise<void> {
    for (const force of [...this.waiting]) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      try {
        force();
      } catch (e) {
        this.failed++;
        onError(e);
      }
    }
  }
}
