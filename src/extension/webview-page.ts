// The HTML page of a kvmdbg webview (the register panel, the screen view): its script and style
// from media/, a Content-Security-Policy that lets in only those and the one script tag carrying
// this page's nonce, and the body the view brings.
import * as vscode from 'vscode';

function nonce(): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < 32; i++) s += chars[Math.floor(Math.random() * chars.length)];
  return s;
}

export function webviewPage(webview: vscode.Webview, extensionUri: vscode.Uri, page: {
  /** File names in media/. */
  script: string;
  style: string;
  title: string;
  body: string;
  /** The <body>'s class. */
  bodyClass?: string;
  /** Whether the page shows images from media/. */
  images?: boolean;
}): string {
  const media = vscode.Uri.joinPath(extensionUri, 'media');
  const script = webview.asWebviewUri(vscode.Uri.joinPath(media, page.script));
  const style = webview.asWebviewUri(vscode.Uri.joinPath(media, page.style));
  const n = nonce();
  const csp = [
    "default-src 'none'",
    `script-src ${webview.cspSource} 'nonce-${n}'`,
    `style-src ${webview.cspSource}`,
    `font-src ${webview.cspSource}`,
    ...(page.images ? [`img-src ${webview.cspSource}`] : []),
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}">
<title>${page.title}</title>
</head>
<body class="${page.bodyClass ?? ''}">
${page.body}
<script nonce="${n}" src="${script}"></script>
</body>
</html>`;
}
