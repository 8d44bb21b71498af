<?php

declare(strict_types=1);

namespace Coyote\Tcp;

/** One event of a TCP connection. */
final class Request
{
    /**
     * @param string $remoteAddr the client's `ip:port`
     * @param TcpEvent $event CONNECTED, DATA or CLOSE
     * @param string $body for DATA, the chunk received (delimiter included)
     * @param string $connectionUuid the connection's uuid (for `tcp.Close`)
     * @param string $server the server's name (`tcp.servers.<name>`)
     */
    public function __construct(
        public readonly string $remoteAddr,
        public readonly TcpEvent $event,
        public readonly string $body,
        public readonly string $connectionUuid,
        public readonly string $server,
    ) {
    }

    public function getRemoteAddress(): string
    {
        return $this->remoteAddr;
    }

    public function getEvent(): TcpEvent
    {
        return $this->event;
    }

    public function getBody(): string
    {
        return $this->body;
    }

    public function getConnectionUuid(): string
    {
        return $this->connectionUuid;
    }

    public function getServer(): string
    {
        return $this->server;
    }
}
