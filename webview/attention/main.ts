// The attention panel page (dist/webview/attention.js): the panel (mount.ts) in #app with the page's VS Code API.
import { mountPage } from '../shared/panel';
import { mount } from './mount';

mountPage(mount);
