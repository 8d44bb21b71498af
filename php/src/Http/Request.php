<?php

declare(strict_types=1);

namespace Coyote\Http;

/**
 * One HTTP request as the server describes it (RoadRunner's request
 * context, decoded), plus the body. When `parsed` is true the body is the
 * JSON of the form tree and `parsedBody()` decodes it.
 */
final class Request
{
    /**
     * @param array<string, list<string>> $headers
     * @param array<string, string> $cookies
     * @param array<string, mixed> $attributes
     * @param array<string, mixed>|null $uploads
     */
    public function __construct(
        public string $remoteAddr = '127.0.0.1',
        public string $protocol = 'HTTP/1.1',
        public string $method = 'GET',
        public string $uri = 'http://localhost/',
        public array $headers = [],
        public array $cookies = [],
        public string $rawQuery = '',
        public bool $parsed = false,
        public ?array $uploads = null,
        public array $attributes = [],
        public string $body = '',
    ) {
    }

    /** Decodes the JSON request context the server sends (CODEC_JSON). */
    public static function fromJson(string $context, string $body): self
    {
        $c = json_decode($context, true, 512, \JSON_THROW_ON_ERROR);
        return new self(
            (string) ($c['remoteAddr'] ?? ''),
            (string) ($c['protocol'] ?? 'HTTP/1.1'),
            (string) ($c['method'] ?? 'GET'),
            (string) ($c['uri'] ?? '/'),
            (array) ($c['headers'] ?? []),
            (array) ($c['cookies'] ?? []),
            (string) ($c['rawQuery'] ?? ''),
            (bool) ($c['parsed'] ?? false),
            isset($c['uploads']) && \is_array($c['uploads']) ? $c['uploads'] : null,
            (array) ($c['attributes'] ?? []),
            $body,
        );
    }

    /** Decodes the protobuf request context (`http.v1.Request`, CODEC_PROTO). */
    public static function fromProto(string $context, string $body): self
    {
        $c = new \Coyote\Proto\Http\Request();
        $c->mergeFromString($context);
        $lists = static function ($map): array {
            $out = [];
            foreach ($map as $name => $values) {
                $out[$name] = iterator_to_array($values->getValue(), false);
            }
            return $out;
        };
        $first = static fn (array $lists): array => array_map(static fn (array $v) => $v[0] ?? '', $lists);
        $uploads = $c->getUploads() === '' ? null : json_decode($c->getUploads(), true);
        return new self(
            $c->getRemoteAddr(),
            $c->getProtocol() ?: 'HTTP/1.1',
            $c->getMethod() ?: 'GET',
            $c->getUri() ?: '/',
            $lists($c->getHeader()),
            $first($lists($c->getCookies())),
            $c->getRawQuery(),
            $c->getParsed(),
            \is_array($uploads) ? $uploads : null,
            $first($lists($c->getAttributes())),
            $body,
        );
    }

    /** @return array<string, mixed> the query string as PHP parses it */
    public function query(): array
    {
        parse_str($this->rawQuery, $query);
        return $query;
    }

    /** @return array<mixed>|null the form tree when the server parsed the body */
    public function parsedBody(): ?array
    {
        if (!$this->parsed || $this->body === '') {
            return null;
        }
        $data = json_decode($this->body, true);
        return \is_array($data) ? $data : null;
    }

    public function header(string $name): ?string
    {
        foreach ($this->headers as $key => $values) {
            if (strcasecmp($key, $name) === 0) {
                return implode(', ', $values);
            }
        }
        return null;
    }
}
