// The graph panel page (dist/webview/graph.js): the panel (mount.ts) in #app with the page's VS Code API.
import { mountPage } from '../shared/panel';
import { mount } from './mount';

mountPage(mount);
