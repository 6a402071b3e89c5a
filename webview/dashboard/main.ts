// The dashboard page (dist/webview/dashboard.js): the dashboard (mount.ts) in #app with the page's VS Code API.
import { mountPage } from '../shared/client';
import { mount } from './mount';

mountPage(mount);
