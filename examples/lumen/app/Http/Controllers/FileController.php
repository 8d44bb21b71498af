<?php

declare(strict_types=1);

namespace App\Http\Controllers;

use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;
use Laravel\Lumen\Routing\Controller;
use Symfony\Component\HttpFoundation\BinaryFileResponse;
use Symfony\Component\HttpFoundation\StreamedResponse;

final class FileController extends Controller
{
    /** The uploaded `file`: its name, size, type and SHA-256, plus the `title` field. */
    public function upload(Request $request): JsonResponse
    {
        $file = $request->file('file');
        if ($file === null || !$file->isValid()) {
            return response()->json(['error' => 'no valid file'], 422);
        }
        return response()->json([
            'name' => $file->getClientOriginalName(),
            'size' => $file->getSize(),
            'mime' => $file->getClientMimeType(),
            'sha256' => hash_file('sha256', $file->getRealPath()),
            'title' => $request->input('title'),
        ], 201);
    }

    /** A file from disk (BinaryFileResponse). */
    public function download(): BinaryFileResponse
    {
        return response()->download(base_path('public/hello.txt'), 'hello.txt');
    }

    /** A body produced piece by piece (StreamedResponse). */
    public function stream(): StreamedResponse
    {
        return response()->stream(static function (): void {
            foreach (['one', 'two', 'three'] as $part) {
                echo $part, "\n";
                ob_flush();
                flush();
            }
        }, 200, ['Content-Type' => 'text/plain']);
    }
}
