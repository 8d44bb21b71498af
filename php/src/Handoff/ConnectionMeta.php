<?php

declare(strict_types=1);

namespace Coyote\Handoff;

/**
 * What is known about one client connection: Coyote's id (fd_passing) or
 * the worker's own (reuseport), the peer and local addresses as
 * `host:port` (`[v6]:port`; `""` on unix sockets), the listener's name and
 * the mode it came through.
 */
final class ConnectionMeta
{
    /** @var array{string, ?int}|null the peer address split, once (each request asks) */
    private ?array $peerParts = null;
    /** @var array{string, ?int}|null */
    private ?array $localParts = null;

    public function __construct(
        public readonly int $id,
        public readonly string $peer,
        public readonly string $local,
        public readonly string $listener,
        public readonly Mode $mode,
    ) {
    }

    /** The peer's host (no brackets around IPv6), `""` when unknown. */
    public function peerHost(): string
    {
        return ($this->peerParts ??= self::split($this->peer))[0];
    }

    /** The peer's port, null when unknown. */
    public function peerPort(): ?int
    {
        return ($this->peerParts ??= self::split($this->peer))[1];
    }

    public function localHost(): string
    {
        return ($this->localParts ??= self::split($this->local))[0];
    }

    public function localPort(): ?int
    {
        return ($this->localParts ??= self::split($this->local))[1];
    }

    /**
     * `1.2.3.4:80` / `[::1]:80` as [host, port].
     *
     * @return array{string, ?int}
     */
    public static function split(string $address): array
    {
        $colon = strrpos($address, ':');
        if ($colon === false) {
            return [$address, null];
        }
        $port = substr($address, $colon + 1);
        $host = substr($address, 0, $colon);
        if (str_starts_with($host, '[') && str_ends_with($host, ']')) {
            $host = substr($host, 1, -1);
        }
        return ctype_digit($port) ? [$host, (int) $port] : [$address, null];
    }
}
