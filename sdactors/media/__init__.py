"""Media: thumbnails and media data of a library's files (images, PDFs, videos)."""
