<?php

declare(strict_types=1);

namespace Coyote\Handoff;

/**
 * A parsed multipart/form-data body: the fields as $_POST nests them, the
 * files as the uploads tree the goridge workers get (nested by field
 * name, each leaf `name`, `mime`, `size`, `error`, `tmpName`: see
 * {@see \Coyote\Http\Uploads}), and the temp files written, which the
 * server removes once the request is answered.
 */
final class MultipartBody
{
    /**
     * @param array<mixed> $fields
     * @param array<mixed> $files
     * @param list<string> $tempFiles
     */
    public function __construct(
        public readonly array $fields,
        public readonly array $files,
        public readonly array $tempFiles,
    ) {
    }
}
