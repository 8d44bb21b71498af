<?php

declare(strict_types=1);

namespace Coyote\KeyValue;

use Coyote\Goridge\Frame;
use Coyote\RPC\RPC;
use Coyote\RPC\ServiceException;

/**
 * One storage of the `kv` plugin (`kv.<name>` in .rr.yaml), PSR-16 style,
 * over the `kv` RPC service with protobuf (kv.v1) messages, as
 * roadrunner-php/kv calls it (encoded by Wire, not the generic runtime):
 *
 * - get / getMultiple (kv.MGet), has (kv.Has), set / setMultiple (kv.Set),
 *   delete / deleteMultiple (kv.Delete), clear (kv.Clear),
 *   getTtl / getMultipleTtl (kv.TTL).
 * - A TTL is null (no expiry), int seconds or a DateInterval; sent as an
 *   RFC 3339 time in UTC. A TTL of 0 or less (or an interval ending in the
 *   past) deletes the keys, as PSR-16 says.
 * - Failures raise KeyValueException (StorageException for a storage the
 *   server does not have); the server's error is the previous exception.
 *
 * The RPC must have no service prefix.
 */
final class Cache
{
    private readonly \DateTimeZone $utc;

    public function __construct(
        private readonly RPC $rpc,
        private readonly string $name,
        private readonly Serializer $serializer = new PhpSerializer(),
    ) {
        $this->utc = new \DateTimeZone('UTC');
    }

    /** The storage `$name` at `$address` (or RR_RPC). */
    public static function create(string $name, ?string $address = null, Serializer $serializer = new PhpSerializer()): self
    {
        return new self(RPC::create($address), $name, $serializer);
    }

    public function getName(): string
    {
        return $this->name;
    }

    public function get(string $key, mixed $default = null): mixed
    {
        foreach ($this->getMultiple([$key], $default) as $value) {
            return $value;
        }
        return $default;
    }

    /**
     * @param iterable<string> $keys
     * @return array<string, mixed> every key asked, `$default` for the missing ones
     */
    public function getMultiple(iterable $keys, mixed $default = null): array
    {
        $keys = self::keys($keys);
        if ($keys === []) {
            return [];
        }
        $found = $this->call('kv.MGet', $this->request($keys));
        $out = [];
        foreach ($keys as $key) {
            $out[$key] = isset($found[$key]) ? $this->serializer->unserialize($found[$key][0]) : $default;
        }
        return $out;
    }

    public function has(string $key): bool
    {
        return isset($this->call('kv.Has', $this->request([$key]))[$key]);
    }

    public function set(string $key, mixed $value, null|int|\DateInterval $ttl = null): bool
    {
        return $this->setMultiple([$key => $value], $ttl);
    }

    /** @param iterable<string, mixed> $values */
    public function setMultiple(iterable $values, null|int|\DateInterval $ttl = null): bool
    {
        $timeout = $this->timeout($ttl);
        if ($timeout === null) {
            $keys = [];
            foreach ($values as $key => $_) {
                $keys[] = (string) $key;
            }
            return $this->deleteMultiple($keys);
        }
        $items = [];
        foreach ($values as $key => $value) {
            $items[] = [self::key($key), $this->serializer->serialize($value), $timeout];
        }
        if ($items === []) {
            return true;
        }
        $this->call('kv.Set', Wire::request($this->name, $items));
        return true;
    }

    public function delete(string $key): bool
    {
        return $this->deleteMultiple([$key]);
    }

    /** @param iterable<string> $keys */
    public function deleteMultiple(iterable $keys): bool
    {
        $keys = self::keys($keys);
        if ($keys !== []) {
            $this->call('kv.Delete', $this->request($keys));
        }
        return true;
    }

    public function clear(): bool
    {
        $this->call('kv.Clear', Wire::request($this->name, []));
        return true;
    }

    /** When `$key` expires: null for no expiry or a missing key. */
    public function getTtl(string $key): ?\DateTimeImmutable
    {
        return $this->getMultipleTtl([$key])[$key];
    }

    /**
     * @param iterable<string> $keys
     * @return array<string, ?\DateTimeImmutable>
     */
    public function getMultipleTtl(iterable $keys): array
    {
        $keys = self::keys($keys);
        if ($keys === []) {
            return [];
        }
        $found = $this->call('kv.TTL', $this->request($keys));
        $out = [];
        foreach ($keys as $key) {
            $timeout = $found[$key][1] ?? '';
            $out[$key] = $timeout === '' ? null
                : (\DateTimeImmutable::createFromFormat(\DateTimeInterface::RFC3339, $timeout, $this->utc) ?: null);
        }
        return $out;
    }

    /** The RFC 3339 expiry for `$ttl`: '' for none, null when the keys must go. */
    private function timeout(null|int|\DateInterval $ttl): ?string
    {
        if ($ttl === null) {
            return '';
        }
        $now = new \DateTimeImmutable('now', $this->utc);
        $at = $ttl instanceof \DateInterval ? $now->add($ttl) : $now->setTimestamp($now->getTimestamp() + $ttl);
        if ($at->getTimestamp() <= $now->getTimestamp()) {
            return null;
        }
        return $at->format(\DateTimeInterface::RFC3339);
    }

    /** @param list<string> $keys */
    private function request(array $keys): string
    {
        return Wire::keys($this->name, $keys);
    }

    /**
     * Calls `$method` with an encoded kv.v1.Request.
     *
     * @return array<string, array{0: string, 1: string}> the reply's items: key => [value, timeout]
     */
    private function call(string $method, string $request): array
    {
        try {
            return Wire::response($this->rpc->callRaw($method, $request, Frame::CODEC_PROTO));
        } catch (KeyValueException $e) {
            throw $e;
        } catch (ServiceException $e) {
            if (str_contains($e->getMessage(), 'no such storage')) {
                throw new StorageException("storage \"{$this->name}\" is not configured on the server (kv.{$this->name})", 0, $e);
            }
            throw new KeyValueException($e->getMessage(), 0, $e);
        } catch (\Throwable $e) {
            throw new KeyValueException("$method failed: {$e->getMessage()}", 0, $e);
        }
    }

    /**
     * @param iterable<mixed> $keys
     * @return list<string>
     */
    private static function keys(iterable $keys): array
    {
        $out = [];
        foreach ($keys as $key) {
            $out[] = self::key($key);
        }
        return $out;
    }

    private static function key(mixed $key): string
    {
        if (\is_int($key)) {
            return (string) $key;
        }
        if (!\is_string($key)) {
            throw new KeyValueException('a cache key must be a string, got ' . get_debug_type($key));
        }
        return $key;
    }
}
