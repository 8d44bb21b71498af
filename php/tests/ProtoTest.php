<?php

declare(strict_types=1);

namespace Coyote\Tests;

use Coyote\Proto\AppLogger\LogAttrs;
use Coyote\Proto\AppLogger\LogEntry;
use PHPUnit\Framework\TestCase;

/** The generated applogger.v1 classes encode what the server decodes. */
final class ProtoTest extends TestCase
{
    public function testLogEntryWireBytes(): void
    {
        $entry = new LogEntry([
            'message' => 'hi',
            'log_attrs' => [new LogAttrs(['key' => 'k', 'value' => 'v'])],
        ]);
        // field 1 (string "hi"), field 2 (message: field 1 "k", field 2 "v")
        self::assertSame('0a026869' . '1206' . '0a016b' . '120176', bin2hex($entry->serializeToString()));
        $back = new LogEntry();
        $back->mergeFromString($entry->serializeToString());
        self::assertSame('hi', $back->getMessage());
        self::assertSame('v', $back->getLogAttrs()[0]->getValue());
    }
}
