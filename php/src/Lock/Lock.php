<?php

declare(strict_types=1);

namespace Coyote\Lock;

use Coyote\Proto\Lock\Request;
use Coyote\Proto\Lock\Response;
use Coyote\RPC\RPC;

/**
 * The `lock` RPC service, called as roadrunner-php/lock calls it: protobuf
 * (CODEC_PROTO) `lock.v1beta1.Request` -> `Response`, times in microseconds.
 *
 * Times are seconds (int or float) or a DateInterval. A ttl of 0 keeps the
 * lock until it is released; a waitTTL of 0 tries once. Unlike
 * roadrunner-php/lock, a DateInterval counts in full (days, hours, minutes,
 * seconds, microseconds), not only its seconds field, and a negative time
 * raises InvalidArgumentException (not an assert).
 *
 * The RPC must have no service prefix (method names are sent in full).
 */
final class Lock
{
    public function __construct(private readonly RPC $rpc)
    {
    }

    /** A client for `$address`, or RR_RPC from the environment. */
    public static function create(?string $address = null): self
    {
        return new self(RPC::create($address));
    }

    /**
     * An exclusive lock on `$resource`.
     *
     * @return false|non-empty-string the lock id (`$id`, or a random UUID), false if not acquired
     */
    public function lock(
        string $resource,
        ?string $id = null,
        int|float|\DateInterval $ttl = 0,
        int|float|\DateInterval $waitTTL = 0,
    ): false|string {
        return $this->acquire('lock.Lock', $resource, $id, $ttl, $waitTTL);
    }

    /**
     * A read (shared) lock on `$resource`.
     *
     * @return false|non-empty-string the lock id, false if not acquired
     */
    public function lockRead(
        string $resource,
        ?string $id = null,
        int|float|\DateInterval $ttl = 0,
        int|float|\DateInterval $waitTTL = 0,
    ): false|string {
        return $this->acquire('lock.LockRead', $resource, $id, $ttl, $waitTTL);
    }

    /** Releases the lock `$id` holds (only its owner can). */
    public function release(string $resource, string $id): bool
    {
        return $this->call('lock.Release', new Request(['resource' => $resource, 'id' => $id]));
    }

    /** Drops every lock on `$resource`, whoever holds it. */
    public function forceRelease(string $resource): bool
    {
        return $this->call('lock.ForceRelease', new Request(['resource' => $resource]));
    }

    /** Whether `$id` holds a lock on `$resource` (null: whether anyone does). */
    public function exists(string $resource, ?string $id = null): bool
    {
        return $this->call('lock.Exists', new Request(['resource' => $resource, 'id' => $id ?? '*']));
    }

    /** Sets the lock `$id` holds to expire `$ttl` from now (0 is refused: false). */
    public function updateTTL(string $resource, string $id, int|float|\DateInterval $ttl): bool
    {
        $request = new Request(['resource' => $resource, 'id' => $id]);
        $request->setTtl(self::microseconds($ttl));
        return $this->call('lock.UpdateTTL', $request);
    }

    /** Seconds or an interval -> whole microseconds, as the server reads them. */
    public static function microseconds(int|float|\DateInterval $time): int
    {
        if ($time instanceof \DateInterval) {
            $epoch = new \DateTimeImmutable('@0');
            $end = $epoch->add($time);
            $micros = ($end->getTimestamp() - $epoch->getTimestamp()) * 1_000_000 + (int) $end->format('u');
        } else {
            $micros = (int) round((float) $time * 1_000_000.0);
        }
        if ($micros < 0) {
            throw new \InvalidArgumentException("a lock time must not be negative, got $micros microseconds");
        }
        return $micros;
    }

    private function acquire(
        string $method,
        string $resource,
        ?string $id,
        int|float|\DateInterval $ttl,
        int|float|\DateInterval $wait,
    ): false|string {
        $id ??= self::uuid();
        $request = new Request(['resource' => $resource, 'id' => $id]);
        $request->setTtl(self::microseconds($ttl));
        $request->setWait(self::microseconds($wait));
        return $this->call($method, $request) ? $id : false;
    }

    private function call(string $method, Request $request): bool
    {
        try {
            return $this->rpc->callProto($method, $request, new Response())->getOk();
        } catch (\Throwable $e) {
            throw LockException::fromCall($method, $e);
        }
    }

    /** A random (version 4) UUID. */
    private static function uuid(): string
    {
        $b = random_bytes(16);
        $b[6] = \chr((\ord($b[6]) & 0x0f) | 0x40);
        $b[8] = \chr((\ord($b[8]) & 0x3f) | 0x80);
        return vsprintf('%s%s-%s-%s-%s-%s%s%s', str_split(bin2hex($b), 4));
    }
}
